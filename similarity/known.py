"""Reads a TA's folder of known sources (files found online, last year's leaks) for `compare`.

The folder is the TA's, but its files came from anywhere: each is size-capped and must be
UTF-8 text, and a file that is not is skipped with a note rather than failing the report.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

MAX_KNOWN_BYTES = 1_000_000
"""A known source larger than this is skipped: a ResNet file is ~5 kB, 1 MB is not one."""


class SkippedFile(BaseModel):
    """A file of the folder that was not read, and why."""

    name: str
    reason: str


class KnownFolder(BaseModel):
    """The readable `*.py` files of a folder (relative POSIX path → text), and those skipped."""

    sources: dict[str, str]
    skipped: list[SkippedFile]


def scan_known_folder(path: str | Path, *, max_bytes: int = MAX_KNOWN_BYTES) -> KnownFolder:
    """Every `*.py` under `path` (recursively, sorted), with a note for each one skipped.

    Symbolic links and other non-regular files are skipped: the folder's own files only.
    A missing folder gives an empty result with one note, since the folder is optional.
    """
    root = Path(path)
    if not root.is_dir():
        return KnownFolder(sources={}, skipped=[SkippedFile(name=str(root), reason="not a folder")])
    sources: dict[str, str] = {}
    skipped: list[SkippedFile] = []
    for file in sorted(root.rglob("*.py")):
        name = file.relative_to(root).as_posix()
        if file.is_symlink() or not file.is_file():
            skipped.append(SkippedFile(name=name, reason="not a regular file"))
            continue
        try:
            size = file.stat().st_size
            if size > max_bytes:
                skipped.append(SkippedFile(name=name, reason=f"{size} bytes, over the {max_bytes}-byte cap"))
                continue
            data = file.read_bytes()
        except OSError as exc:
            skipped.append(SkippedFile(name=name, reason=f"unreadable: {exc.strerror or exc}"))
            continue
        if b"\x00" in data:
            skipped.append(SkippedFile(name=name, reason="binary data (NUL bytes)"))
            continue
        try:
            sources[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            skipped.append(SkippedFile(name=name, reason="not UTF-8 text"))
    return KnownFolder(sources=sources, skipped=skipped)


def load_known_folder(path: str | Path, *, max_bytes: int = MAX_KNOWN_BYTES) -> dict[str, str]:
    """The readable sources of `scan_known_folder`, ready for `compare(known=...)`.

    The skipped files are dropped here; call `scan_known_folder` to show them to the TA.
    """
    return scan_known_folder(path, max_bytes=max_bytes).sources
