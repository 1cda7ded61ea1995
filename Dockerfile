# One image per device, from one file: `--target cpu` (api and the CPU worker) and
# `--target cuda` (the GPU worker). docker-compose.yml builds each with its target.
FROM python:3.11-slim-bookworm AS base
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# The CPU build of torch keeps the image small (~1 GB less than the CUDA build).
FROM base AS torch-cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_REQUIREMENT=torch==2.13.0
RUN pip install --no-cache-dir --index-url ${TORCH_INDEX} ${TORCH_REQUIREMENT}

# PyPI's Linux x86_64 wheel of torch 2.13.0 is the CUDA 13.0 build (it requires
# cuda-toolkit 13.0.3 and nvidia-cudnn-cu13), so the host's driver must support CUDA 13
# (R580 or newer). For an older driver pass PyTorch's index for a CUDA 12 build that
# serves this version: --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu12X
FROM base AS torch-cuda
ARG TORCH_INDEX=https://pypi.org/simple
ARG TORCH_REQUIREMENT=torch==2.13.0
RUN pip install --no-cache-dir --index-url ${TORCH_INDEX} ${TORCH_REQUIREMENT}
# What the NVIDIA container toolkit injects: the GPUs and the driver's compute libraries.
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility

# The application, the same in both targets.
FROM base AS src
COPY pyproject.toml README.md ./
COPY grader grader
COPY reference reference
COPY api api
COPY worker worker
COPY storage storage
COPY service service
COPY similarity similarity
COPY papers papers

FROM torch-cpu AS cpu
COPY --from=src /app /app
RUN pip install --no-cache-dir .
ENV AUTOGRADER_VAR_DIR=/var/lib/autograder
EXPOSE 8000
CMD ["uvicorn", "api.main:app_from_env", "--factory", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers"]

FROM torch-cuda AS cuda
COPY --from=src /app /app
RUN pip install --no-cache-dir .
ENV AUTOGRADER_VAR_DIR=/var/lib/autograder AUTOGRADER_DEVICE=cuda
# A worker that finds no usable GPU refuses to start and says why (autograder worker).
CMD ["autograder", "worker"]
