"""What the student's pages show: mode, who is signed in, the deadline and time left, their own
history and the TA changes to their grade. Built here so the page routes only do HTTP."""
from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from api.auth import Viewer, signed_in_student
from service.scoring import scale
from api.paper_views import paper_views
from api.views import audit_view, one_view, submission_views
from service.settings import ServiceSettings
from storage import course, gradebook, papers, service
from storage.models import FINAL, FinalRule, LatePolicy, Status, Submission


# Where a student lands after their TA reissued their link, or with a mistyped one.
LINK_NOT_VALID: dict[str, Any] = {
    "status": 403, "title": "This sign-in link is not valid",
    "message": "It may have been replaced by a newer one (your TA can reissue links) or revoked. Your "
               "submissions are safe: they stay with your name whatever link you sign in with.",
    "more": ["Use the newest link your TA sent you (check your email), or ask your TA for your current link."],
    "links": [("/", "The upload page")],
}


def _policy_text(a) -> str:  # noqa: ANN001 - an Assignment
    if a.deadline is None:
        return ""  # the page already says there is no deadline
    if a.late_policy == LatePolicy.none:
        return "Late submissions are not accepted."
    unit = "hour" if a.late_policy == LatePolicy.per_hour else "day"
    cutoff = f"; nothing is accepted after {course.show_time(a.late_cutoff, a.timezone)}" if a.late_cutoff else ""
    return (f"Late submissions lose {a.late_penalty:.0%} of the maximum score per started {unit}{cutoff}"
            + ("." if a.final_rule == FinalRule.best else
               "; a late submission counts only when you have no graded on-time one (the last on-time one counts)."))


def page_context(request: Request, session: Session, settings: ServiceSettings) -> dict[str, Any]:
    a = course.default_assignment(session, name=settings.assignment)
    roster = course.has_roster(session)
    student = signed_in_student(request, session) if roster else None
    ext = course.extension_until(session, assignment=a, student_pk=student.id) if student else None
    deadline = course.due(a, ext)
    if student is not None:
        mine = course.history(session, student_pk=student.id)
    elif not roster:
        mine = service.submissions_by_ids(session, ids=list(request.session.get("mine", []))[:20])
    else:
        mine = []
    released = course.released(a, extension=ext)
    if student is not None:
        reports = papers.papers_of(session, assignment_id=a.id, student_pk=student.id)
    elif not roster:
        reports = papers.self_check_papers(session, ids=list(request.session.get("my_reports", []))[:20],
                                           submission_ids=[s.id for s in mine])
    else:
        reports = []
    record = papers.of_record(reports) if student is not None else None
    return {
        "scale": scale(settings),  # one maximum score; whether and why not accuracy is measured
        "mode": "course" if roster else "self_check", "student": student, "needs_code": bool(settings.access_code) and not roster,
        "assignment": a.title or a.name, "deadline": course.show_time(deadline, a.timezone) if deadline else None,
        "deadline_iso": deadline.isoformat() + "Z" if deadline else None,
        "now_iso": course.now().isoformat() + "Z",  # the page's countdown corrects the browser's clock by it
        "time_left": course.time_left(a, extension=ext), "policy": _policy_text(a),
        "extended": ext is not None and a.deadline is not None and ext > a.deadline,
        "history": submission_views(session, mine, with_report=False, released=released),
        "reports": paper_views(session, reports[:20]), "report_of_record": record.id if record else None,
        "max_report_mb": settings.max_report_mb,
        "audit": [audit_view(e, zone=a.timezone) for e in gradebook.audit_log(session, student_pk=student.id)
                  if e.action == "override"]
        if student else [],
    }


def result_context(request: Request, session: Session, settings: ServiceSettings, viewer: Viewer,
                   sub: Submission) -> dict[str, Any]:
    released = viewer.ta is not None or course.released_for(session, submission=sub)
    view = one_view(session, sub, released=released, notes=True)
    page = page_context(request, session, settings)
    zone = course.zone_of(session, submission=sub)
    audit = [audit_view(e, zone=zone) for e in gradebook.audit_log(session, submission_id=sub.id)
             if e.action == "override"]
    queue = service.queue_position(session, submission=sub) if sub.status == Status.queued else None
    sent_with = papers.sent_with(session, submission_id=sub.id)
    return page | {"queue_position": queue[0] if queue else None,
                   "queue_wait": _minutes(queue[1]) if queue and queue[1] is not None else None,"s": view, "report": view.report or view.structure, "final": sub.status in FINAL,
                   "released": released, "sub_audit": audit,
                   "paper": paper_views(session, [sent_with])[0] if sent_with is not None else None}


def _minutes(seconds: float) -> str:
    return "under a minute" if seconds < 60 else f"about {round(seconds / 60)} min"
