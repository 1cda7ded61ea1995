"""Checking uploads before anything is stored: .py files and TA zips (no escape, no bomb)."""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from grader.engine import validate_source

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SKELETON = "resnet50_skeleton.py"


class UploadError(ValueError):
    """A refusal with a message for the person who uploaded."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Entry:
    student_id: str
    filename: str
    data: bytes


def check_student_id(value: str) -> str:
    value = value.strip()
    if not STUDENT_ID.match(value):
        raise UploadError("The student ID may use letters, digits, '.', '_' and '-' (at most 64), e.g. 2021320322.")
    return value


def check_source(data: bytes, filename: str, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise UploadError(f"{filename} is {len(data) // 1024} KiB; the limit is {max_bytes // 1024} KiB.", 413)
    if not filename.endswith(".py"):
        raise UploadError(f"{filename} is not a .py file; upload your {SKELETON}.", 415)
    problem = validate_source(data)
    if problem:
        raise UploadError(f"{filename}: {problem}", 422)


def student_of(name: str) -> str | None:
    """`2021320322/resnet50_skeleton.py` or `2021320322_resnet50_skeleton.py` → the ID."""
    path = PurePosixPath(name)
    if len(path.parts) == 2 and path.name.endswith(".py"):
        return path.parts[0]
    if len(path.parts) == 1 and path.name.endswith("_" + SKELETON):
        return path.name[: -len(SKELETON) - 1]
    return None


def read_zip(data: bytes, *, max_entries: int, max_total: int, max_file: int) -> list[Entry]:
    """Entries named by student ID; refuses path escapes, links, bombs and stray files."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UploadError("The archive is not a valid zip file.", 422) from exc
    infos = [i for i in archive.infolist() if not i.is_dir() and not _ignorable(i.filename)]
    if len(infos) > max_entries:
        raise UploadError(f"The zip has {len(infos)} files; the limit is {max_entries}.", 413)
    if sum(i.file_size for i in infos) > max_total:
        raise UploadError(f"The zip unpacks to more than {max_total >> 20} MiB.", 413)
    entries: list[Entry] = []
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or ".." in PurePosixPath(name).parts or (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise UploadError(f"Zip entry {info.filename!r} points outside its folder or is a link.", 422)
        student = student_of(name)
        if student is None:
            raise UploadError(f"Zip entry {info.filename!r} is not named STUDENT_ID/{SKELETON} "
                              f"or STUDENT_ID_{SKELETON}.", 422)
        if info.file_size > max_file:
            raise UploadError(f"{info.filename} is larger than {max_file // 1024} KiB.", 413)
        with archive.open(info) as f:
            content = f.read(max_file + 1)  # the header's size may lie: read no more than allowed
        if len(content) > max_file:
            raise UploadError(f"{info.filename} is larger than {max_file // 1024} KiB.", 413)
        check_source(content, PurePosixPath(name).name, max_file)
        entries.append(Entry(check_student_id(student), SKELETON, content))
    if not entries:
        raise UploadError("The zip holds no submissions.", 422)
    return entries


def _ignorable(name: str) -> bool:
    return name.startswith("__MACOSX/") or PurePosixPath(name).name in (".DS_Store",)
