"""Files a sandbox may be reading, written whole: a reader sees the old file or the new one.

Why: a worker's probe tensors (grader/expected.py) and training data (grader/training.py) live
in one folder per table or data set, and are written again when that process computes them
again (another rubric, an evicted cache entry) while a fork of the last grade, or the next
one, reads them. `torch.save` onto the path truncates the file a child is reading: its
`torch.load` failed ("PytorchStreamReader failed reading file"), the child exited with code 1,
and the student was told their file had crashed, its points left for a TA (a CI failure:
`test_the_rubric_may_deduct_instead`). A temporary file in the same folder and `os.replace`
leave the old file whole for whoever has it open. The caches (grader/expected.py, grader/data.py)
write their entries the same way, for readers in other processes.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

import torch


def write_whole(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """`write` into a temporary file beside `path`, then os.replace it there (raises as `write` or
    the file system does; the temporary file is gone either way)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_whole(obj: Any, path: Path) -> None:
    """torch.save `obj` to `path` whole (write_whole)."""
    write_whole(path, lambda f: torch.save(obj, f))
