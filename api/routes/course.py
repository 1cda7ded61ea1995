"""The course of record over REST (TA bearer token): assignments, the roster and its sign-in
links, extensions, the gradebook (JSON, CSV, Canvas CSV), overrides and the audit log."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, HTTPException, Request, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from api.auth import TaDep
from api.deps import SessionDep, SettingsDep
from api.views import AuditView, GradebookRowView, audit_view, gradebook_row_view
from api.course_exports import canvas_csv, course_gradebook_csv
from service.roster import RosterError, links_csv, parse_roster_csv, sign_in_url
from service.scoring import scale
from storage import course, gradebook
from storage.models import Assignment

router = APIRouter(prefix="/api")


class AssignmentView(BaseModel):
    name: str
    title: str
    deadline: str | None  # ISO 8601 with the offset of `timezone`
    timezone: str
    late_policy: str
    late_penalty: float
    late_cutoff: str | None  # ISO 8601 with the offset of `timezone`
    final_rule: str
    release: str
    is_default: bool
    deadline_shown: str | None = None  # the same time for people, with the zone's name


class AssignmentUpdate(BaseModel):
    title: str | None = None
    deadline: str | None = Field(None, description="ISO 8601; without an offset it is read in `timezone`; '' removes it")
    timezone: str | None = None
    late_policy: str | None = Field(None, description="none, per_hour or per_day")
    late_penalty: float | None = Field(None, description="fraction of the maximum score per hour or day")
    late_cutoff: str | None = None
    final_rule: str | None = Field(None, description="last_on_time or best")
    release: str | None = Field(None, description="immediate or after_deadline")
    make_default: bool = False


class LinkView(BaseModel):
    student_id: str
    name: str
    email: str
    link: str


class OverrideIn(BaseModel):
    item: str = Field(description="a rubric item id of the report, or late_penalty (a fraction)")
    points: float
    comment: str = Field(min_length=1, max_length=2000)


class ExtensionIn(BaseModel):
    until: str = Field(description="ISO 8601")


def assignment_view(a: Assignment) -> AssignmentView:
    return AssignmentView(name=a.name, title=a.title, deadline=course.iso_time(a.deadline, a.timezone),
                          timezone=a.timezone, late_policy=a.late_policy, late_penalty=a.late_penalty,
                          late_cutoff=course.iso_time(a.late_cutoff, a.timezone), final_rule=a.final_rule,
                          release=a.release, is_default=a.is_default,
                          deadline_shown=course.show_time(a.deadline, a.timezone) if a.deadline else None)


def _assignment(session: SessionDep, name: str) -> Assignment:
    a = course.get_assignment(session, name=name)
    if a is None:
        raise HTTPException(404, f"There is no assignment named {name!r}.")
    return a


@router.get("/assignments", response_model=list[AssignmentView])
def list_assignments(session: SessionDep, _ta: TaDep) -> list[AssignmentView]:
    return [assignment_view(a) for a in course.list_assignments(session)]


@router.put("/assignments/{name}", response_model=AssignmentView)
def put_assignment(session: SessionDep, _ta: TaDep, name: str, body: AssignmentUpdate) -> AssignmentView:
    try:
        a = course.configure_assignment(session, name=name, **body.model_dump())
    except course.CourseError as exc:
        raise HTTPException(422, str(exc)) from exc
    return assignment_view(a)


@router.get("/assignments/{name}/gradebook.json", response_model=list[GradebookRowView])
def gradebook_json(session: SessionDep, settings: SettingsDep, _ta: TaDep, name: str) -> list[GradebookRowView]:
    """One row per roster student: the final submission by the assignment's rule."""
    a = _assignment(session, name)
    return [gradebook_row_view(r, zone=a.timezone)
            for r in gradebook.gradebook(session, assignment=a, max_score=scale(settings).max_score,
                                         report_items=settings.report_item_list())]


@router.get("/assignments/{name}/gradebook.csv", response_class=PlainTextResponse)
def gradebook_csv_route(session: SessionDep, settings: SettingsDep, _ta: TaDep, name: str) -> PlainTextResponse:
    a = _assignment(session, name)
    rows = gradebook.gradebook(session, assignment=a, max_score=scale(settings).max_score,
                               report_items=settings.report_item_list())
    return PlainTextResponse(course_gradebook_csv(rows, zone=a.timezone), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="gradebook-{name}.csv"'})


@router.get("/assignments/{name}/canvas.csv", response_class=PlainTextResponse)
def canvas_csv_route(session: SessionDep, settings: SettingsDep, _ta: TaDep, name: str) -> PlainTextResponse:
    """Canvas gradebook import: students matched by SIS User ID (the roster's student_id)."""
    a = _assignment(session, name)
    rows = gradebook.gradebook(session, assignment=a, max_score=scale(settings).max_score,
                               report_items=settings.report_item_list())
    return PlainTextResponse(canvas_csv(rows, title=a.title or a.name), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="canvas-{name}.csv"'})


@router.put("/assignments/{name}/extensions/{student_id}")
def put_extension(session: SessionDep, ta: TaDep, name: str, student_id: str, body: ExtensionIn) -> dict[str, str]:
    a, student = _assignment(session, name), course.get_student(session, student_id=student_id)
    if student is None:
        raise HTTPException(404, f"{student_id} is not on the roster.")
    try:
        ext = course.set_extension(session, assignment=a, student=student, until=body.until, actor=ta)
    except course.CourseError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"student_id": student_id, "until": course.iso_time(ext.until, a.timezone) or "",
            "until_shown": course.show_time(ext.until, a.timezone)}


@router.post("/roster", response_model=list[LinkView])
async def import_roster(request: Request, session: SessionDep, settings: SettingsDep, _ta: TaDep,
                        file: Annotated[UploadFile, File(description="CSV: student_id,name,email")],
                        format: Literal["json", "csv"] = "json") -> list[LinkView] | PlainTextResponse:
    """Add or update students; returns the sign-in links issued now (shown once: only hashes are kept),
    as JSON or (`format=csv`) as the mail-merge CSV student_id,name,email,link."""
    try:
        rows = parse_roster_csv(await file.read(4 << 20))
    except RosterError as exc:
        raise HTTPException(422, str(exc)) from exc
    issued = course.import_roster(session, rows=rows)
    base = settings.public_url or str(request.base_url)
    if format == "csv":
        return PlainTextResponse(links_csv(issued, base), media_type="text/csv",
                                 headers={"Content-Disposition": 'attachment; filename="links.csv"',
                                          "Cache-Control": "no-store"})
    return [LinkView(student_id=i.student_id, name=i.name, email=i.email, link=sign_in_url(base, i.token))
            for i in issued]


@router.post("/roster/{student_id}/link", response_model=LinkView)
def reissue_link(request: Request, session: SessionDep, settings: SettingsDep, ta: TaDep, student_id: str) -> LinkView:
    """A new link for one student; the old one and its sessions stop working."""
    student = course.get_student(session, student_id=student_id)
    if student is None:
        raise HTTPException(404, f"{student_id} is not on the roster.")
    i = course.issue_link(session, student=student, actor=ta)
    return LinkView(student_id=i.student_id, name=i.name, email=i.email,
                    link=sign_in_url(settings.public_url or str(request.base_url), i.token))


@router.delete("/roster/{student_id}/link", status_code=204)
def revoke_link(session: SessionDep, ta: TaDep, student_id: str) -> None:
    student = course.get_student(session, student_id=student_id)
    if student is None:
        raise HTTPException(404, f"{student_id} is not on the roster.")
    course.revoke_link(session, student=student, actor=ta)


@router.post("/submissions/{submission_id}/overrides", response_model=AuditView)
def override(session: SessionDep, ta: TaDep, submission_id: str, body: OverrideIn) -> AuditView:
    """A TA's points for one item, with a comment; the audit log keeps who, when, old and new."""
    from storage.service import get_submission

    sub = get_submission(session, submission_id=submission_id)
    if sub is None:
        raise HTTPException(404, "No submission has this id.")
    try:
        gradebook.override_item(session, submission=sub, item=body.item, points=body.points, comment=body.comment,
                                actor=ta)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return audit_view(gradebook.audit_log(session, submission_id=sub.id, limit=1)[0],
                      zone=course.zone_of(session, submission=sub))


@router.get("/audit", response_model=list[AuditView])
def audit(session: SessionDep, settings: SettingsDep, _ta: TaDep, student_id: str | None = None) -> list[AuditView]:
    """The audit log, newest first; times in the zone of the assignment the page takes uploads for."""
    pk = None
    if student_id is not None:
        student = course.get_student(session, student_id=student_id)
        if student is None:
            raise HTTPException(404, f"{student_id} is not on the roster.")
        pk = student.id
    zone = course.default_assignment(session, name=settings.assignment).timezone
    return [audit_view(e, zone=zone) for e in gradebook.audit_log(session, student_pk=pk)]
