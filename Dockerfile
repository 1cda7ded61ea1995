# One image for api and worker (different commands in docker-compose.yml).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The CPU build of torch keeps the image small; a GPU host installs the CUDA build instead:
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 .
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir --index-url ${TORCH_INDEX} torch==2.13.0
COPY pyproject.toml README.md ./
COPY grader grader
COPY reference reference
COPY api api
COPY worker worker
COPY storage storage
RUN pip install --no-cache-dir .
ENV AUTOGRADER_VAR_DIR=/var/lib/autograder
EXPOSE 8000
CMD ["uvicorn", "api.main:app_from_env", "--factory", "--host", "0.0.0.0", "--port", "8000"]
