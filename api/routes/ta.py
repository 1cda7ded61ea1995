"""The TA dashboard (HTML): overview, submissions table, submission detail, reports, similarity, roster.

HTTP only: contexts come from api/ta_context.py, writes go through storage/. Every page needs
a signed-in TA (`TaPageDep` redirects to the sign-in form, and checks the CSRF token of
every form it receives).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from api.auth import TaPageDep, attach_csrf
from api.deps import SessionDep, SettingsDep
from api.routes.pages import templates
from api.similarity_view import pair_context, similarity_context
from api.submit import send
from api.ta_context import (TableQuery, detail_context, overview_context, paper_page_context, pick_assignment,
                            queue_view, roster_context, roster_import_context, table_context)
from api.ta_live import QueueFeed, TooManyTaStreams
from service.roster import RosterError, parse_roster_csv, sign_in_url
from storage import course, gradebook, papers, service
from storage.db import session_scope
from storage.models import Paper, Submission

router = APIRouter(prefix="/ta", include_in_schema=False)
# Every TA page warns while sign-in links are made from whatever address the page was opened with.
templates.env.globals["public_url_missing"] = lambda request: (
    request is not None and not request.app.state.settings.public_url)


def _page(request: Request, name: str, context: dict, status_code: int = 200) -> HTMLResponse:
    return attach_csrf(request, templates.TemplateResponse(request, name, context, status_code=status_code))


def _submission(session: SessionDep, submission_id: str) -> Submission:
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise HTTPException(404, "No submission has this id.")
    return sub


@router.get("", response_class=HTMLResponse)
def overview(request: Request, session: SessionDep, settings: SettingsDep, ta: TaPageDep,
             a: str | None = None) -> HTMLResponse:
    assignment = pick_assignment(session, settings, a)
    return _page(request, "ta_overview.html", overview_context(session, settings, assignment) | {"ta": ta})


@router.get("/queue/events")
async def queue_events(request: Request, settings: SettingsDep, ta: TaPageDep) -> StreamingResponse:
    """Server-Sent Events: the queue with an ETA per grade, whenever it changes."""
    feed = getattr(request.app.state, "ta_queue_feed", None)
    if feed is None:
        db = settings.resolved_database_url()

        def snapshot() -> dict:
            with session_scope(db) as s:
                return queue_view(s)

        feed = request.app.state.ta_queue_feed = QueueFeed(snapshot)
    try:
        feed.open()
    except TooManyTaStreams as exc:
        raise HTTPException(429, str(exc)) from exc
    return StreamingResponse(feed.events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/submissions", response_class=HTMLResponse)
def submissions(request: Request, session: SessionDep, settings: SettingsDep, ta: TaPageDep,
                a: str | None = None, status: str = "", item: str = "", late: bool = False,
                review: bool = False, final: bool = False, q: str = "",
                sort: Annotated[str, Query(pattern="^(time|student|score|accuracy|status)$")] = "time",
                desc: bool = True, page: Annotated[int, Query(ge=1)] = 1) -> HTMLResponse:
    assignment = pick_assignment(session, settings, a)
    query = TableQuery(a=assignment.name, status=status, item=item, late=late, self_reported=review, final=final, q=q[:100],
                       sort=sort, desc=desc, page=page)  # type: ignore[arg-type]
    return _page(request, "ta_submissions.html", table_context(session, settings, assignment, query) | {"ta": ta})


@router.get("/s/{submission_id}", response_class=HTMLResponse)
def detail(request: Request, submission_id: str, session: SessionDep, settings: SettingsDep,
           ta: TaPageDep, done: str = "") -> HTMLResponse:
    """`done` names what was just done (the template knows the words: no text comes from the URL)."""
    sub = _submission(session, submission_id)
    context = detail_context(session, settings, sub) | {"ta": ta, "error": "", "done": done[:20]}
    return _page(request, "ta_detail.html", context)


@router.post("/s/{submission_id}/override", response_model=None)
def override(request: Request, submission_id: str, session: SessionDep, settings: SettingsDep, ta: TaPageDep,
             item: Annotated[str, Form(max_length=64)], points: Annotated[float, Form()],
             comment: Annotated[str, Form(min_length=1, max_length=2000)]) -> HTMLResponse | RedirectResponse:
    sub = _submission(session, submission_id)
    try:
        gradebook.override_item(session, submission=sub, item=item, points=points, comment=comment, actor=ta)
    except ValueError as exc:
        context = detail_context(session, settings, sub) | {"ta": ta, "error": str(exc), "done": ""}
        return _page(request, "ta_detail.html", context, status_code=422)
    return RedirectResponse(f"/ta/s/{sub.id}?done=override#audit", status_code=303)


def _paper(session: SessionDep, paper_id: str) -> Paper:
    paper = session.get(Paper, paper_id)
    if paper is None:
        raise HTTPException(404, "No report has this id.")
    return paper


def _safe_filename(name: str) -> str:
    """The upload's name for Content-Disposition: letters, digits, . _ - only (no quotes, no header tricks)."""
    stem = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name.rsplit("/", 1)[-1])[:100]
    stem = stem.strip("._") or "report"
    return stem if stem.lower().endswith(".pdf") else stem + ".pdf"


# A student's PDF is the student's file: shown only to a TA, never cached by a shared proxy, and
# sandboxed (CSP) so that script or forms in it cannot act as this site.
_UNTRUSTED = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox",
              "Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


@router.get("/papers/{paper_id}.pdf")
def paper_pdf(paper_id: str, session: SessionDep, ta: TaPageDep, download: bool = False) -> Response:  # noqa: ARG001
    paper = _paper(session, paper_id)
    disposition = "attachment" if download else "inline"
    return Response(paper.content, media_type="application/pdf",
                    headers=_UNTRUSTED | {"Content-Disposition": f'{disposition}; filename="{_safe_filename(paper.filename)}"'})


@router.get("/papers/{paper_id}/page1.png")
def paper_preview(paper_id: str, session: SessionDep, ta: TaPageDep) -> Response:  # noqa: ARG001
    paper = _paper(session, paper_id)
    if paper.preview_png is None:
        raise HTTPException(404, "This report has no preview (not checked yet, or unreadable).")
    return Response(paper.preview_png, media_type="image/png", headers=_UNTRUSTED)


@router.get("/papers/{paper_id}", response_class=HTMLResponse)
def paper_page(request: Request, paper_id: str, session: SessionDep, settings: SettingsDep, ta: TaPageDep,
               done: str = "") -> HTMLResponse:
    """A report on its own page (one sent without code has no submission page to show it on)."""
    paper = _paper(session, paper_id)
    context = paper_page_context(session, settings, paper) | {"ta": ta, "error": "", "done": done[:20]}
    return _page(request, "ta_paper.html", context)


@router.post("/papers/{paper_id}/marks", response_model=None)
def mark_paper(request: Request, paper_id: str, session: SessionDep, settings: SettingsDep, ta: TaPageDep,
               item: Annotated[str, Form(max_length=64)], points: Annotated[float, Form()],
               comment: Annotated[str, Form(max_length=2000)] = "",
               back: Annotated[str, Form(max_length=40)] = "") -> HTMLResponse | RedirectResponse:
    """A TA's points for one report item; `back` is the submission page the form was on (if any)."""
    paper = _paper(session, paper_id)
    sub = session.get(Submission, back) if back else None
    try:
        papers.mark(session, paper=paper, item=item, points=points, comment=comment, actor=ta,
                    items=settings.report_item_list())
    except ValueError as exc:
        session.rollback()
        if sub is not None:
            context = detail_context(session, settings, sub) | {"ta": ta, "error": str(exc), "done": ""}
            return _page(request, "ta_detail.html", context, status_code=422)
        context = paper_page_context(session, settings, paper) | {"ta": ta, "error": str(exc), "done": ""}
        return _page(request, "ta_paper.html", context, status_code=422)
    session.commit()
    where = f"/ta/s/{sub.id}" if sub is not None else f"/ta/papers/{paper.id}"
    return RedirectResponse(f"{where}?done=mark#report", status_code=303)


@router.post("/s/{submission_id}/regrade")
def regrade(submission_id: str, session: SessionDep, settings: SettingsDep, ta: TaPageDep,
            background: BackgroundTasks) -> RedirectResponse:
    sub = _submission(session, submission_id)
    service.requeue(session, ids=[sub.id], skip_training=settings.skip_training)
    background.add_task(send, settings, [sub.id])
    return RedirectResponse(f"/ta/s/{sub.id}?done=regrade", status_code=303)


@router.get("/similarity", response_class=HTMLResponse)
def similarity(request: Request, session: SessionDep, settings: SettingsDep, ta: TaPageDep,
               a: str | None = None) -> HTMLResponse:
    assignment = pick_assignment(session, settings, a)
    context = similarity_context(request.app.state, session, settings, assignment)
    return _page(request, "ta_similarity.html", context | {"ta": ta, "assignment": assignment,
                                                           "assignments": course.list_assignments(session)})


@router.get("/similarity/pair", response_class=HTMLResponse)
def similarity_pair(request: Request, session: SessionDep, settings: SettingsDep, ta: TaPageDep,
                    left: str, right: str, a: str | None = None,
                    kind: Annotated[str, Query(pattern="^(code|report)$")] = "code") -> HTMLResponse:
    assignment = pick_assignment(session, settings, a)
    context = pair_context(request.app.state, session, settings, assignment, left, right, kind=kind)
    if context is None:
        raise HTTPException(404, "This pair is not in the similarity report.")
    return _page(request, "ta_pair.html", context | {"ta": ta, "assignment": assignment})


def _base_url(request: Request, settings: SettingsDep) -> str:
    return settings.public_url or str(request.base_url)


@router.get("/roster", response_class=HTMLResponse)
def roster(request: Request, session: SessionDep, settings: SettingsDep, ta: TaPageDep, a: str | None = None,
           missing: bool = False, report: Annotated[str, Query(max_length=20)] = "") -> HTMLResponse:
    context = roster_context(session, settings, assignment_name=a, missing=missing, report=report)
    return _page(request, "ta_roster.html", context | {"ta": ta})


@router.post("/roster", response_model=None)
async def import_roster(request: Request, session: SessionDep, settings: SettingsDep, ta: TaPageDep,
                        file: Annotated[UploadFile, File()]) -> HTMLResponse:
    """Import the CSV; the roster page comes back with the list as it is now, a confirmation, and the
    sign-in links issued now (a table and a links.csv download, shown once: only hashes are kept)."""
    try:
        rows = parse_roster_csv(await file.read(4 << 20))
    except RosterError as exc:
        return _page(request, "ta_roster.html", roster_context(session, settings, error=str(exc)) | {"ta": ta},
                     status_code=422)
    context = roster_import_context(session, settings, rows=rows, base_url=_base_url(request, settings))
    response = _page(request, "ta_roster.html", context | {"ta": ta})
    response.headers["Cache-Control"] = "no-store"  # the links are shown once
    return response


@router.get("/roster/{student_id}/reissue", response_class=HTMLResponse)
def reissue_confirm(request: Request, student_id: str, session: SessionDep, ta: TaPageDep) -> HTMLResponse:
    """The confirmation before a student's link is replaced (the POST below does it)."""
    student = course.get_student(session, student_id=student_id)
    if student is None:
        raise HTTPException(404, f"{student_id} is not on the roster.")
    return _page(request, "ta_reissue.html", {"ta": ta, "student": student, "link": ""})


@router.post("/roster/{student_id}/link", response_class=HTMLResponse)
def reissue_link(request: Request, student_id: str, session: SessionDep, settings: SettingsDep,
                 ta: TaPageDep) -> HTMLResponse:
    """A new link for one student (the old one and its sessions stop working), shown once."""
    student = course.get_student(session, student_id=student_id)
    if student is None:
        raise HTTPException(404, f"{student_id} is not on the roster.")
    issued = course.issue_link(session, student=student, actor=ta)
    session.commit()
    response = _page(request, "ta_reissue.html", {"ta": ta, "student": student,
                                                  "link": sign_in_url(_base_url(request, settings), issued.token)})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
