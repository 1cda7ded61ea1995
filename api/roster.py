"""Roster CSV in (student_id,name,email) and sign-in links out (CSV for a mail merge or an LMS post)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from api.exports import _safe_cell
from api.uploads import UploadError, check_student_id
from storage.course import IssuedLink

ROSTER_COLUMNS = ("student_id", "name", "email")


def parse_roster_csv(data: bytes) -> list[dict[str, str]]:
    """Rows by header name (extra columns ignored); a bad row is named by its line number."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError("The roster is not UTF-8 text; save it as CSV (UTF-8).", 422) from exc
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "student_id" not in [f.strip() for f in reader.fieldnames]:
        raise UploadError("The roster needs a header line with the columns student_id,name,email.", 422)
    rows, seen = [], set()
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        try:
            sid = check_student_id(row.get("student_id", ""))
        except UploadError as exc:
            raise UploadError(f"Roster line {line}: {exc}", 422) from exc
        if sid in seen:
            raise UploadError(f"Roster line {line}: student {sid} appears twice.", 422)
        seen.add(sid)
        rows.append({"student_id": sid, "name": row.get("name", "")[:200], "email": row.get("email", "")[:254]})
    if not rows:
        raise UploadError("The roster has no students.", 422)
    return rows


def sign_in_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/signin/{token}"


def links_csv(links: Iterable[IssuedLink], base: str) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["student_id", "name", "email", "link"])
    for i in links:
        w.writerow([_safe_cell(i.student_id), _safe_cell(i.name), _safe_cell(i.email), sign_in_url(base, i.token)])
    return out.getvalue()
