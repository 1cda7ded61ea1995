"""Checking uploads before anything is stored: .py files and TA zips (no escape, no bomb)."""
from __future__ import annotations

import hashlib
import io
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from grader.engine import validate_source
from papers.intake import check_upload
from grader.report import Error, Report
from grader.report import Submission as ReportSubmission
from storage import course

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
    """storage.course's check, refused as an upload is (400): storage knows no HTTP statuses."""
    try:
        return course.check_student_id(value)
    except course.StudentIdError as exc:
        raise UploadError(str(exc)) from exc


def kib(n: int) -> str:
    """A size in KiB rounded up to one decimal: 262145 bytes is 256.1 KiB, never "256 KiB" over a 256 KiB limit."""
    return f"{math.ceil(n * 10 / 1024) / 10:g}"


def check_source(data: bytes, filename: str, max_bytes: int, size: int | None = None) -> None:
    """`size`: the whole file's size when known (only `max_bytes + 1` bytes of it are read)."""
    if len(data) > max_bytes:
        if size is not None and size > max_bytes:
            raise UploadError(f"{filename} is {kib(size)} KiB; the limit is {kib(max_bytes)} KiB.", 413)
        raise UploadError(f"{filename} is larger than {kib(max_bytes)} KiB, the limit.", 413)
    if not filename.endswith(".py"):
        raise UploadError(f"{filename} is not a .py file; upload your {SKELETON}.", 415)
    problem = validate_source(data)
    if problem:
        raise UploadError(f"{filename}: {problem}", 422)


def check_report(data: bytes, filename: str, max_bytes: int, size: int | None = None) -> None:
    """The report PDF before it is stored: its size, its name, then papers.intake's header check;
    nothing is parsed here (parsing is untrusted work, done in a worker's sandbox: papers/).
    `size`: the whole upload's size when known (only `max_bytes + 1` bytes of it are read)."""
    if len(data) > max_bytes:
        status, problem = 413, (f"it is {max(size or 0, len(data)) / (1 << 20):.1f} MiB; a report PDF may be at most "
                                f"{max_bytes / (1 << 20):g} MiB (a 1-page report is usually well under 1 MiB).")
    elif not data:
        status, problem = 422, "the file is empty."
    elif not filename.lower().endswith(".pdf"):
        status, problem = 415, "it is not a PDF; upload your report as a .pdf file (export it from LaTeX or Word)."
    else:
        status, problem = 415, check_upload(data, filename, max_bytes)
    if problem:
        raise UploadError(f"{filename}: {problem} Nothing was stored.", status)


def student_of(name: str) -> str | None:
    """`2021320322/resnet50_skeleton.py` or `2021320322_resnet50_skeleton.py` → the ID."""
    path = PurePosixPath(name)
    if len(path.parts) == 2 and path.name.endswith(".py"):
        return path.parts[0]
    if len(path.parts) == 1 and path.name.endswith("_" + SKELETON):
        return path.name[: -len(SKELETON) - 1]
    return None


@dataclass(frozen=True)
class Rejected:
    """A student's entry that cannot be graded: it becomes a rejected row for that student."""

    student_id: str
    entry: str  # the name inside the zip
    message: str  # names the entry and the student
    data: bytes = b""

    def report(self, max_score: float) -> Report:
        """The rejected report the student and the gradebook see (0 points, the reason)."""
        sub = ReportSubmission(filename=PurePosixPath(self.entry).name, sha256=hashlib.sha256(self.data).hexdigest(),
                               student_id=self.student_id, size_bytes=len(self.data))
        return Report(submission=sub, status="rejected", score=0.0, max_score=max_score,
                      error=Error(kind="invalid_file", message=self.message))


@dataclass
class ZipContents:
    """What a batch upload (zips and loose files) gives: files to grade, rejected entries, report
    PDFs (`ID/report.pdf`, checked like a student's upload), warnings."""

    entries: list[Entry] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # ignored entries and dropped duplicates
    reports: list[Entry] = field(default_factory=list)  # one per student at most

    def extend(self, other: "ZipContents") -> None:
        """Add a later file's contents; for a student already here, the later file wins, with a warning."""
        later = {e.student_id for e in other.entries} | {r.student_id for r in other.rejected}
        twice = sorted(later & ({e.student_id for e in self.entries} | {r.student_id for r in self.rejected}))
        self.entries = [e for e in self.entries if e.student_id not in later] + other.entries
        self.rejected = [r for r in self.rejected if r.student_id not in later] + other.rejected
        later_reports = {e.student_id for e in other.reports}
        self.reports = [e for e in self.reports if e.student_id not in later_reports] + other.reports
        self.warnings += other.warnings + [f"Student {s} appears in two files of this batch; kept the later one."
                                           for s in twice]

    @property
    def count(self) -> int:
        return len(self.entries) + len(self.rejected)


def read_zip(data: bytes, *, max_entries: int, max_total: int, max_file: int,
             max_report: int = 10 << 20) -> ZipContents:
    """One file per student from a course zip (`ID/resnet50_skeleton.py` or `ID_resnet50_skeleton.py`),
    and each student's report beside it (`ID/report.pdf`, any one .pdf in the folder).

    The whole zip is refused only when it is not a zip, is too big, or holds an entry that
    points outside its folder or is a link (an attack, not a mistake). A student's bad entry
    becomes a rejected row for that student, the others are still graded; a file that
    belongs to no student is ignored with a warning; of two files for one student the last
    in the zip is kept, with a warning. Every entry, ignored ones too, counts against the limit.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UploadError("The archive is not a valid zip file.", 422) from exc
    infos = archive.infolist()
    files = [i for i in infos if not i.is_dir()]
    if len(files) > max_entries or len(infos) > 2 * max_entries:
        raise UploadError(f"The zip has {len(files)} files; the limit is {max_entries} (ignored files count too).", 413)
    if sum(i.file_size for i in files) > max_total:
        raise UploadError(f"The zip unpacks to more than {max_total >> 20} MiB.", 413)
    for info in infos:
        name = _posix(info.filename)
        if name.startswith("/") or ".." in PurePosixPath(name).parts or (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise UploadError(f"Zip entry {info.filename!r} points outside its folder or is a link.", 422)
    out = ZipContents()
    by_student: dict[str, list[tuple[str, zipfile.ZipInfo]]] = {}
    wrapper = _common_folder([_posix(i.filename) for i in files if not _ignorable(i.filename)])
    for info in files:
        if _ignorable(info.filename):
            continue
        name = _posix(info.filename)[len(wrapper):]
        student = _student_folder(name)
        if student is None:
            out.warnings.append(f"Ignored {info.filename!r}: it is not in a student's folder "
                                f"(expected STUDENT_ID/{SKELETON} or STUDENT_ID_{SKELETON}).")
        elif not course.STUDENT_ID.match(student):
            out.warnings.append(f"Ignored {info.filename!r}: {student!r} is not a student ID "
                                "(letters, digits, '.', '_' and '-').")
        else:
            by_student.setdefault(student, []).append((info.filename, info))
    for student, found in by_student.items():
        pdfs = [(n, i) for n, i in found if n.lower().endswith(".pdf")]
        found = [(n, i) for n, i in found if not n.lower().endswith(".pdf")]
        if pdfs:
            _take_report(archive, student, pdfs, max_report, out)
        if not found:
            continue  # a report on its own: the student's code is elsewhere (or not yet)
        python = [(n, i) for n, i in found if n.endswith(".py")]
        proper = [(n, i) for n, i in python if PurePosixPath(n).name in (SKELETON, f"{student}_{SKELETON}")]
        candidates = proper or python or found
        chosen, info = candidates[-1]
        for entry_name, _ in found:
            if entry_name == chosen:
                continue
            if any(entry_name == n for n, _ in candidates):
                out.warnings.append(f"Ignored {entry_name!r}: a second file for student {student}; "
                                    f"kept the last one, {chosen!r}.")
            else:
                out.warnings.append(f"Ignored {entry_name!r}: student {student}'s submission is {chosen!r}.")
        who = f"{chosen} (student {student})"
        if not chosen.endswith(".py"):
            out.rejected.append(Rejected(student, chosen, f"{who} is not a Python file; the zip has no "
                                         f"{SKELETON} for this student."))
            continue
        with archive.open(info) as f:
            content = f.read(max_file + 1)  # the header's size may lie: read no more than allowed
        if len(content) > max_file:
            out.rejected.append(Rejected(student, chosen, f"{who} is larger than {max_file // 1024} KiB, "
                                         "the most a model file may be."))
            continue
        problem = validate_source(content)
        if problem:
            out.rejected.append(Rejected(student, chosen, f"{who}: {problem}", content))
            continue
        out.entries.append(Entry(student, SKELETON, content))
    if not out.entries and not out.rejected and not out.reports:
        raise UploadError(f"The zip holds no submissions: name each file STUDENT_ID/{SKELETON}. "
                          + " ".join(out.warnings[:3]), 422)
    return out


def _take_report(archive: zipfile.ZipFile, student: str, pdfs: list[tuple[str, zipfile.ZipInfo]], max_report: int,
                 out: ZipContents) -> None:
    """The student's report: `report.pdf` if there, else the last PDF; one that is no PDF or too big
    is left out with a warning that names it, and the student's code is graded all the same."""
    named = [(n, i) for n, i in pdfs if PurePosixPath(n).name.lower() == "report.pdf"]
    chosen, info = (named or pdfs)[-1]
    for other, _ in pdfs:
        if other != chosen:
            out.warnings.append(f"Ignored {other!r}: student {student}'s report is {chosen!r}.")
    with archive.open(info) as f:
        content = f.read(max_report + 1)
    try:
        check_report(content, chosen, max_report)
    except UploadError as exc:
        out.warnings.append(f"Student {student}'s report was not stored: {exc}")
        return
    out.reports.append(Entry(student, PurePosixPath(chosen).name, content))


def _student_folder(name: str) -> str | None:
    """The student an entry belongs to: its folder, or the ID before `_resnet50_skeleton.py`."""
    parts = PurePosixPath(name).parts
    if len(parts) == 2:
        return parts[0]
    if len(parts) == 1 and parts[0].endswith("_" + SKELETON):
        return parts[0][: -len(SKELETON) - 1]
    return None


def _common_folder(names: list[str]) -> str:
    """`course/` when every entry sits in that one folder (a zip of the folder, not of its contents)."""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and names and all("/" in n for n in names) and any(n.count("/") >= 2 for n in names):
        return tops.pop() + "/"
    return ""


def _posix(name: str) -> str:
    return name.replace("\\", "/")


def _ignorable(name: str) -> bool:
    return name.startswith("__MACOSX/") or PurePosixPath(name).name in (".DS_Store",)
