"""The student's web page: upload form, result page at an unguessable URL, live progress (SSE)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from api.auth import CsrfDep, LimiterDep, Viewer, ViewerDep, attach_csrf, can_view, csrf_token, signed_in_student
from api.deps import SessionDep, SettingsDep, StoreDep
from api.live import Notifier, TooManyStreams
from api.page_context import page_context, result_context
from api.paper_views import paper_view, zone_of
from api.submit import send, submit_report, submit_upload
from api.uploads import UploadError
from api.views import submission_view
from storage.course import show_time
from storage.db import session_scope
from storage.models import Paper, PaperStatus, Submission
from storage.service import FINAL

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
templates.env.globals["csrf_token"] = csrf_token
# A stored (naive UTC) time as people read it, in a zone with its name: `{{ t|shown(assignment.timezone) }}`.
templates.env.filters["shown"] = lambda t, zone="UTC", seconds=False: show_time(t, zone, seconds=seconds) if t else ""


@router.get("/", response_class=HTMLResponse)
def index(request: Request, settings: SettingsDep, session: SessionDep) -> HTMLResponse:
    return attach_csrf(request, templates.TemplateResponse(request, "index.html", page_context(request, session, settings)))


@router.post("/submit", response_model=None, dependencies=[CsrfDep])
async def submit(request: Request, store: StoreDep, settings: SettingsDep, limiter: LimiterDep,
                 background: BackgroundTasks, file: Annotated[UploadFile, File()],
                 report: Annotated[UploadFile | None, File()] = None,
                 student_id: Annotated[str, Form()] = "",
                 access_code: Annotated[str, Form()] = "") -> HTMLResponse | RedirectResponse:
    """The code, and the report PDF when one is chosen; neither is stored when either is refused."""
    limiter.hit(request, "upload")
    try:
        sub = await submit_upload(settings, store, request, file=file, typed_student_id=student_id,
                                  access_code=access_code, report=report)
    except UploadError as exc:
        return await _index_with_error(request, settings, str(exc), exc.status, student_id)
    if sub.student_pk is None:  # open self-check mode: this browser's own list of uploads
        request.session["mine"] = [sub.id, *request.session.get("mine", [])][:20]
    background.add_task(send, settings, [sub.id])
    return RedirectResponse(f"/s/{sub.id}", status_code=303)


async def _index_with_error(request: Request, settings: SettingsDep, error: str, status: int,
                            student_id: str) -> HTMLResponse:
    def context() -> dict:
        with session_scope(settings.resolved_database_url()) as s:
            return page_context(request, s, settings) | {"error": error, "student_id": student_id}

    return attach_csrf(request, templates.TemplateResponse(request, "index.html", await run_in_threadpool(context),
                                                           status_code=status))


@router.post("/report", response_model=None, dependencies=[CsrfDep])
async def submit_paper(request: Request, settings: SettingsDep, limiter: LimiterDep,
                       report: Annotated[UploadFile, File()], student_id: Annotated[str, Form()] = "",
                       access_code: Annotated[str, Form()] = "") -> HTMLResponse | RedirectResponse:
    """The report on its own (the code came before, or comes later); checked in seconds."""
    limiter.hit(request, "upload")
    try:
        paper = await submit_report(settings, request, report=report, typed_student_id=student_id,
                                    access_code=access_code)
    except UploadError as exc:
        return await _index_with_error(request, settings, str(exc), exc.status, student_id)
    if paper.student_pk is None:
        request.session["my_reports"] = [paper.id, *request.session.get("my_reports", [])][:20]
    return RedirectResponse(f"/r/{paper.id}", status_code=303)


@router.get("/r/{paper_id}", response_class=HTMLResponse)
def paper_page(request: Request, paper_id: str, session: SessionDep, settings: SettingsDep,
               viewer: ViewerDep) -> HTMLResponse:
    """The report's format feedback; reloads itself every few seconds until the check is done."""
    paper = session.get(Paper, paper_id)
    if paper is None or not can_view(viewer, paper):  # another student's: as if it did not exist
        raise HTTPException(404, "No report has this address.")
    done = paper.status in (PaperStatus.checked, PaperStatus.failed)
    return templates.TemplateResponse(request, "report.html", page_context(request, session, settings) | {
        "p": paper_view(paper, zone=zone_of(session, paper)), "done": done})


@router.get("/s/{submission_id}", response_class=HTMLResponse)
def result(request: Request, submission_id: str, session: SessionDep, settings: SettingsDep,
           viewer: ViewerDep) -> HTMLResponse:
    sub = session.get(Submission, submission_id)
    if sub is None or not can_view(viewer, sub):  # another student's: as if it did not exist
        raise HTTPException(404, "No submission has this address.")
    return templates.TemplateResponse(request, "result.html", result_context(request, session, settings, viewer, sub))


@router.get("/s/{submission_id}/events")
async def events(request: Request, submission_id: str, settings: SettingsDep) -> StreamingResponse:
    """Server-Sent Events: one `data:` line per change until the grade is final (api/live.py)."""
    db = settings.resolved_database_url()

    def snapshot() -> dict | None:
        with session_scope(db) as s:  # the viewer is checked once, when the stream opens
            sub = s.get(Submission, submission_id)
            if sub is None or not can_view(Viewer(student=signed_in_student(request, s)), sub):
                return None
            return _live_view(sub)

    first = await run_in_threadpool(snapshot)
    if first is None:
        raise HTTPException(404, "No submission has this address.")
    notifier = _notifier(request, settings)
    try:
        stream = notifier.open(submission_id, request.client.host if request.client else "", first)
    except TooManyStreams as exc:
        raise HTTPException(429, str(exc)) from exc
    return StreamingResponse(notifier.events(stream, final=lambda view: view["status"] in FINAL),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _live_view(sub: Submission) -> dict:
    # Progress only (no score: released=False); the result page has the times in the assignment's zone.
    return submission_view(sub, points=None, zone="UTC", with_report=False, released=False).model_dump() | {
        "has_structure": sub.structure_json is not None}


def _notifier(request: Request, settings: SettingsDep) -> Notifier:
    """One per API process (made on the first stream), shared by every stream."""
    state = request.app.state
    if getattr(state, "notifier", None) is None:
        state.notifier = Notifier(settings.resolved_database_url(), _live_view,
                                  per_submission=settings.live_streams_per_submission,
                                  per_client=settings.live_streams_per_client)
    return state.notifier
