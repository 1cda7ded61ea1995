"""Roster CSV in (student_id,name,email) and sign-in links out (CSV for a mail merge or an LMS post).

Below api/: the TA's roster page and POST /api/roster (api/routes) and `autograder roster
import` (service/course_cli.py) read and write the same CSV; a refusal is a RosterError, which
the routes answer with 422 and the CLI prints.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from service.csv_cells import safe_cell
from storage.course import IssuedLink, StudentIdError, check_student_id

ROSTER_COLUMNS = ("student_id", "name", "email")


class RosterError(ValueError):
    """A roster that is refused whole, with the line at fault named: nothing of it is stored."""


def parse_roster_csv(data: bytes) -> list[dict[str, str]]:
    """Rows by header name (extra columns ignored); a bad row is named by its line number."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterError("The roster is not UTF-8 text; save it as CSV (UTF-8).") from exc
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "student_id" not in [f.strip() for f in reader.fieldnames]:
        raise RosterError("The roster needs a header line with the columns student_id,name,email.")
    rows, seen = [], set()
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        try:
            sid = check_student_id(row.get("student_id", ""))
        except StudentIdError as exc:
            raise RosterError(f"Roster line {line}: {exc}") from exc
        if sid in seen:
            raise RosterError(f"Roster line {line}: student {sid} appears twice.")
        seen.add(sid)
        rows.append({"student_id": sid, "name": row.get("name", "")[:200], "email": row.get("email", "")[:254]})
    if not rows:
        raise RosterError("The roster has no students.")
    return rows


def sign_in_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/signin/{token}"


def links_csv(links: Iterable[IssuedLink], base: str) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["student_id", "name", "email", "link"])
    for i in links:
        w.writerow([safe_cell(i.student_id), safe_cell(i.name), safe_cell(i.email), sign_in_url(base, i.token)])
    return out.getvalue()
