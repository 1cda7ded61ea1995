"""What the TA pages show, built here so that api/routes/ta.py only does HTTP.

Every figure comes from the gradebook of record (storage/gradebook.py) and the stored
reports; nothing here grades or re-scores.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from api import code_view
from api.charts import histogram_svg
from api.paper_views import claim_check, paper_view, paper_views
from api.class_stats import ClassStats, Upload, class_stats
from service.scoring import scale
from api.views import audit_view, one_view, submission_views
from grader.report import Report, without_other_grades
from grader.rubric import load_rubric
from service.settings import ServiceSettings
from storage import course, dashboard, gradebook, papers
from storage.models import Assignment, AuditEntry, Paper, Status, Submission

PAGE_SIZE = 100
STATUSES = [s.value for s in Status]


@lru_cache(maxsize=4)
def blank_ids(rubric_path: Path | None) -> list[str]:
    return [b.id for b in load_rubric(rubric_path).q2_blanks.blanks]


def pick_assignment(session: Session, settings: ServiceSettings, name: str | None) -> Assignment:
    """The named assignment, or the one the page takes uploads for."""
    if name:
        found = course.get_assignment(session, name=name)
        if found is not None:
            return found
    return course.default_assignment(session, name=settings.assignment)


def overview(session: Session, settings: ServiceSettings, assignment: Assignment) -> tuple[ClassStats, list]:
    rows = gradebook.gradebook(session, assignment=assignment, max_score=scale(settings).max_score,
                               report_items=settings.report_item_list())
    reports = dashboard.reports_by_id(session, ids=[r.submission_id for r in rows if r.submission_id])
    uploads = [Upload(student_id=s, status=st) for s, st in dashboard.assignment_uploads(session, assignment=assignment)]
    return class_stats(rows, reports, uploads, blank_ids=blank_ids(settings.rubric),
                       max_score=scale(settings).max_score), rows


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "no estimate yet (no grade finished)"
    # Under a minute, not "0 s": reused grades finish at once, so the mean can be ~0 with work still queued.
    return f"about {round(seconds / 60)} min" if seconds >= 60 else "under a minute"


def queue_view(session: Session) -> dict[str, Any]:
    """The live queue as JSON-ready data (the overview's SSE stream sends the same)."""
    snap = dashboard.queue_snapshot(session)
    busy = bool(snap.queued or snap.running)
    summary = (f"{snap.queued} queued · {snap.running} running · {snap.workers} worker(s) active in the last 10 min · "
               + (f"empty in {eta_text(snap.drain_s)}" if busy else "the queue is empty"))
    return {
        "queued": snap.queued, "running": snap.running, "workers": snap.workers, "summary": summary,
        "mean_grade_s": snap.mean_grade_s, "drain": eta_text(snap.drain_s) if busy else "",
        "entries": [{"id": e.id, "student_id": e.student_id, "status": e.status, "position": e.position,
                     "worker": e.worker, "eta": eta_text(e.eta_s),
                     "progress": (e.progress or {}).get("message") or (e.progress or {}).get("event") or ""}
                    for e in snap.entries],
    }


def overview_context(session: Session, settings: ServiceSettings, assignment: Assignment) -> dict[str, Any]:
    stats, rows = overview(session, settings, assignment)
    top = stats.max_score or scale(settings).max_score
    return {
        "assignment": assignment, "assignments": course.list_assignments(session), "stats": stats,
        "deadline": course.show_time(assignment.deadline, assignment.timezone) if assignment.deadline else None,
        "score_svg": histogram_svg(stats.score_bins, title=f"Final scores ({stats.scored} students)",
                                   x_label=f"points (of {top:g}, late penalty applied)", element_id="score-histogram",
                                   tick=lambda v: f"{v:.0f}"),
        "accuracy_svg": histogram_svg(stats.accuracy_bins, title="Test accuracy after the fine-tune",
                                      x_label="accuracy (%)", element_id="accuracy-histogram",
                                      tick=lambda v: f"{v * 100:.0f}"),
        "queue": queue_view(session), "scale": scale(settings),
        "needs_review": [r for r in rows if r.needs_review],
        "report_counts": {key: sum(1 for r in rows if keep(r)) for key, (_, keep) in REPORT_FILTERS.items()},
        "report_labels": {key: label for key, (label, _) in REPORT_FILTERS.items()},
    }


# The overview's report cards and the roster's matching filters (?report=KEY): one rule for both,
# read from the gradebook row, so a card's number is the length of the list it links to.
REPORT_FILTERS: dict[str, tuple[str, Any]] = {
    "missing": ("reports missing", lambda r: r.report_status == "missing"),
    "failing": ("failing a format check", lambda r: bool(r.report_failed_checks)),
    "unreadable": ("unreadable (or the check failed)", lambda r: r.report_status in ("unreadable", "failed")),
    "flagged": ("stated accuracy flagged", lambda r: r.report_flag),
    "unmarked": ("to mark", lambda r: r.report_id is not None and r.report_max > 0 and r.report_points is None
                 and r.report_status in ("checked", "unreadable")),
}


@dataclass(frozen=True)
class TableQuery:
    a: str = ""  # the assignment's name
    status: str = ""
    item: str = ""
    late: bool = False
    self_reported: bool = False
    final: bool = False
    q: str = ""
    sort: dashboard.SortKey = "time"
    desc: bool = True
    page: int = 1

    def link(self, **change: Any) -> str:
        """The table's URL with some parameters changed (the sort headers and pager use it)."""
        from urllib.parse import urlencode

        values = {**self.__dict__, **change}
        values["review"] = values.pop("self_reported")
        params = {k: ("1" if v is True else v) for k, v in values.items() if k != "desc" and v not in ("", False, None)}
        params["desc"] = "true" if values["desc"] else "false"
        return "?" + urlencode(params)


def table_context(session: Session, settings: ServiceSettings, assignment: Assignment, query: TableQuery) -> dict[str, Any]:
    rows = dashboard.upload_rows(session, assignment=assignment)
    finals = None
    if query.final:
        finals = {r.submission_id for r in gradebook.gradebook(session, assignment=assignment) if r.submission_id}
    shown = dashboard.sort_rows(dashboard.filter_rows(rows, status=query.status, item=query.item, late=query.late,
                                                      self_reported=query.self_reported, query=query.q,
                                                      final_ids=finals),
                                key=query.sort, descending=query.desc)
    pages = max((len(shown) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(max(query.page, 1), pages)
    items = sorted({i for r in rows for i in r.failed_items})
    return {"assignment": assignment, "assignments": course.list_assignments(session), "query": query,
            "rows": shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], "total": len(shown), "all": len(rows),
            "page": page, "pages": pages, "statuses": STATUSES, "items": items}


def detail_context(session: Session, settings: ServiceSettings, sub: Submission) -> dict[str, Any]:
    view = one_view(session, sub, released=True, notes=True)
    report = without_other_grades(json.loads(sub.report_json)) if sub.report_json else None
    source = (sub.content or b"").decode("utf-8", errors="replace")
    try:
        parsed = Report.model_validate(report) if report is not None else None
    except ValidationError:  # a report of an older schema: the code is still shown, deductions not placed
        parsed = None
    code = code_view.render(source, parsed or Report.model_construct(items=[]))
    assignment = session.get(Assignment, sub.assignment_id) if sub.assignment_id else None
    history = (submission_views(session, dashboard.student_history(session, student_pk=sub.student_pk,
                                                                  assignment=assignment), with_report=False)
               if sub.student_pk is not None and assignment is not None else [])
    student = course.student_by_pk(session, pk=sub.student_pk) if sub.student_pk is not None else None
    points = gradebook.score_as_seen(session, sub=sub)
    zone = assignment.timezone if assignment is not None else "UTC"
    paper = _paper_for(session, sub, assignment)
    section = report_section(session, settings, paper, back=sub.id)
    entries = _merged(gradebook.audit_log(session, submission_id=sub.id),
                      papers.mark_log(session, paper=paper) if paper is not None else [])
    return {"s": view, "sub": sub, "report": report, "code": code, "code_css": code_view.css(), "history": history, "student": student,
            "points": points, "assignment": assignment,
            "audit": [audit_view(e, zone=zone) for e in entries],
            "override_items": [i["id"] for i in (report or {}).get("items", [])] + [gradebook.LATE_PENALTY_ITEM]} | section


def _paper_for(session: Session, sub: Submission, assignment: Assignment | None) -> Paper | None:
    """A roster student's report of record; for a self-check or check-batch row, the report sent with it."""
    if sub.student_pk is not None and assignment is not None:
        return papers.of_record(papers.papers_of(session, assignment_id=assignment.id, student_pk=sub.student_pk))
    return papers.sent_with(session, submission_id=sub.id)


def _merged(*logs: list[AuditEntry]) -> list[AuditEntry]:
    seen: dict[int, AuditEntry] = {e.id: e for log in logs for e in log}
    return sorted(seen.values(), key=lambda e: (e.at, e.id), reverse=True)


def report_section(session: Session, settings: ServiceSettings, paper: Paper | None, *, back: str = "") -> dict[str, Any]:
    """The TA's view of one report: its checks, claims beside our measurement, its history, and the
    marking form per item (the points are storage.papers.report_standing's, as in the gradebook)."""
    items = settings.report_item_list()
    if paper is None:
        return {"paper": None, "paper_items": [], "paper_history": [], "claim": claim_check(None, None),
                "standing": None, "paper_back": back}
    assignment = session.get(Assignment, paper.assignment_id) if paper.assignment_id else None
    code: Submission | None = None
    if paper.student_pk is not None and assignment is not None:
        best = gradebook.record_of(session, assignment=assignment, student_pk=paper.student_pk)
        code = best.sub if best is not None else None
    elif paper.submission_id is not None:
        code = session.get(Submission, paper.submission_id)
    marks = papers.marks_of(session, paper_ids=[paper.id]).get(paper.id, {})
    standing = papers.report_standing(paper, marks, items, code)
    history = (papers.papers_of(session, assignment_id=assignment.id, student_pk=paper.student_pk)
               if paper.student_pk is not None and assignment is not None else [paper])
    return {"paper": paper_view(paper, zone=assignment.timezone if assignment else "UTC"),
            "paper_items": [{"name": i.name, "max": i.points, "given": standing.points.marks.get(i.name),
                             "comment": standing.points.comments.get(i.name, "")} for i in items],
            "paper_history": paper_views(session, history), "claim": claim_check(paper, code),
            "standing": standing, "paper_code": code, "paper_back": back}


def paper_page_context(session: Session, settings: ServiceSettings, paper: Paper) -> dict[str, Any]:
    """A report on a page of its own (one sent without code has no submission page)."""
    assignment = session.get(Assignment, paper.assignment_id) if paper.assignment_id else None
    zone = assignment.timezone if assignment is not None else "UTC"
    student = course.student_by_pk(session, pk=paper.student_pk) if paper.student_pk is not None else None
    return report_section(session, settings, paper) | {
        "assignment": assignment, "student": student, "student_id": paper.student_id,
        "audit": [audit_view(e, zone=zone) for e in papers.mark_log(session, paper=paper)]}


def roster_context(session: Session, settings: ServiceSettings, *, error: str = "", done: str = "",
                   issued: list | None = None, base_url: str = "", assignment_name: str | None = None,
                   missing: bool = False, report: str = "") -> dict[str, Any]:
    """The roster with each student's submission of record on the assignment the page takes uploads
    for (the gradebook's row: graded, missing, queued, ...), and the links issued by this request
    (shown once: only their hashes are kept). `missing`: only the students with nothing of record
    (the overview's "missing" card links here). `report`: only the students whose report matches
    that REPORT_FILTERS key (the overview's report cards link here)."""
    from service.roster import links_csv, sign_in_url

    assignment = pick_assignment(session, settings, assignment_name)
    rows = {r.student_id: r for r in gradebook.gradebook(session, assignment=assignment,
                                                         max_score=scale(settings).max_score,
                                                         report_items=settings.report_item_list())}
    links = [{"student_id": i.student_id, "name": i.name, "link": sign_in_url(base_url, i.token)}
             for i in issued or []]
    csv_data = ""
    if issued:
        import base64

        csv_data = "data:text/csv;base64," + base64.b64encode(links_csv(issued, base_url).encode()).decode()
    students = course.list_students(session)
    if missing:
        students = [s for s in students if s.student_id not in rows or rows[s.student_id].status == "missing"]
    if report in REPORT_FILTERS:
        keep = REPORT_FILTERS[report][1]
        students = [s for s in students if s.student_id in rows and keep(rows[s.student_id])]
    else:
        report = ""
    return {"students": students, "rows": rows, "assignment": assignment, "error": error, "missing": missing,
            "report": report, "report_label": REPORT_FILTERS[report][0] if report else "",
            "done": done, "links": links, "links_csv": csv_data, "scale": scale(settings),
            "assignments": course.list_assignments(session)}


def roster_import_context(session: Session, settings: ServiceSettings, *, rows: list[dict[str, str]],
                          base_url: str) -> dict[str, Any]:
    """Import the parsed roster (storage.course) and say what happened: new, updated, links issued."""
    known = {s.student_id for s in course.list_students(session)}
    issued = course.import_roster(session, rows=rows)
    session.commit()
    added = sum(r["student_id"] not in known for r in rows)
    done = (f"Imported {len(rows)} student(s): {added} new, {len(rows) - added} updated; {len(issued)} new sign-in "
            "link(s) below.")
    return roster_context(session, settings, done=done, issued=issued, base_url=base_url)
