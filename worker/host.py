"""What a worker host must have in common with the others: the same checkpoint and data bytes.

Workers on several machines share only the broker and the database; the checkpoint and the
data set are per-host paths. When the course pins their sha256 (AUTOGRADER_CHECKPOINT_SHA256,
AUTOGRADER_DATA_SHA256), a host whose files differ refuses to start rather than grade with
other weights or images than its peers.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from service.settings import ServiceSettings


@lru_cache(maxsize=8)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:  # keyed by mtime and size: hashed once
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    st = path.stat()
    return _file_sha256(str(path.resolve()), st.st_mtime_ns, st.st_size)


def host_problems(settings: ServiceSettings) -> list[str]:
    """Why this host must not grade for the course, in words for the operator; [] when it may."""
    problems = []
    checkpoint = settings.default_checkpoint()
    if settings.checkpoint_sha256:
        if checkpoint is None or not checkpoint.is_file():
            problems.append("AUTOGRADER_CHECKPOINT_SHA256 is set but this host has no checkpoint "
                            "(set AUTOGRADER_CHECKPOINT)")
        elif (found := file_sha256(checkpoint)) != settings.checkpoint_sha256.lower():
            problems.append(f"the checkpoint {checkpoint} has sha256 {found}, the course's is "
                            f"{settings.checkpoint_sha256}")
    if settings.data_sha256 and not settings.skip_training:
        from grader.data import data_sha256, find_batches_dir

        if settings.data_dir is None:
            problems.append("AUTOGRADER_DATA_SHA256 is set but this host has no AUTOGRADER_DATA_DIR")
        else:
            try:
                found = data_sha256(find_batches_dir(settings.data_dir))
            except Exception as exc:  # a missing or malformed folder: say what was found
                problems.append(f"the data in {settings.data_dir} cannot be read: {exc}")
            else:
                if found != settings.data_sha256.lower():
                    problems.append(f"the data in {settings.data_dir} has sha256 {found}, the course's is "
                                    f"{settings.data_sha256}")
    return problems
