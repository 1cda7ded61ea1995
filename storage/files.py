"""Uploaded files stored by content (sha256): identical uploads are stored once."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / f"{sha256}.py"

    def put(self, data: bytes) -> str:
        """Store the bytes under their sha256; written aside and renamed, so a reader never sees half a file.

        Not fsynced: since migration 0002 the submission's row holds its bytes, and that row is what
        a worker grades (this file is read only for rows older than that). The fsync cost an upload
        1.6-2 ms under the SQLite write lock, where every other upload waits (bench/upload_profile.py),
        for a copy that SQLite's own commits (WAL, synchronous=NORMAL) do not outlast either.
        """
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)  # atomic: a reader never sees half a file
        return digest

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()
