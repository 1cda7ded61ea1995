"""The REST API: submissions (students and scripts) and batches (TAs, bearer token)."""
from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi.concurrency import run_in_threadpool
from fastapi import APIRouter, BackgroundTasks, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from api.auth import CsrfDep, LimiterDep, TaDep, ViewerDep, can_view
from api.deps import SessionDep, SettingsDep, StoreDep
from api.exports import gradebook_csv, gradescope_results, prairielearn_results
from api.paper_views import PaperView, paper_view, zone_of
from api.submit import accept_batch, send, submit_report, submit_upload
from service.scoring import scale
from api.uploads import Entry, UploadError, ZipContents, check_source, check_student_id, read_zip, student_of
from api.views import SubmissionView, one_view, submission_views
from grader.report import Report, without_other_grades
from storage import batches, course, service
from storage.gradebook import Scored, report_as_seen, scores_as_seen
from storage.models import FINAL, Paper, Submission

router = APIRouter(prefix="/api")


def _refuse(exc: UploadError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


def _get(session: SessionDep, submission_id: str) -> Submission:
    sub = service.get_submission(session, submission_id=submission_id)
    if sub is None:
        raise HTTPException(404, "No submission has this id.")
    return sub


@router.post("/submissions", status_code=202, response_model=SubmissionView, dependencies=[CsrfDep])
async def create_submission(request: Request, session: SessionDep, store: StoreDep, settings: SettingsDep,
                            limiter: LimiterDep,
                            background: BackgroundTasks, file: Annotated[UploadFile, File()],
                            report: Annotated[UploadFile | None, File(description=(
                                "the report PDF, optional (it can also be sent on its own: POST /api/reports)"))] = None,
                            student_id: Annotated[str, Form()] = "",
                            access_code: Annotated[str, Form()] = "") -> SubmissionView:
    """Upload one file (and the report PDF); grading runs in the background. Poll `url` or the events stream.

    With a roster, the signed-in student's session (and the `x-csrftoken` header) decides
    who it is for and `student_id` is ignored; without one, `student_id` names a self-check.
    When either file is refused, neither is stored.
    """
    limiter.hit(request, "upload")
    try:
        sub = await submit_upload(settings, store, request, file=file, typed_student_id=student_id,
                                  access_code=access_code, report=report)
    except UploadError as exc:
        raise _refuse(exc) from exc
    background.add_task(send, settings, [sub.id])  # after the response: the row is already durable
    return await run_in_threadpool(one_view, session, sub, with_report=False)


@router.get("/submissions/{submission_id}", response_model=SubmissionView)
def read_submission(session: SessionDep, viewer: ViewerDep, submission_id: str) -> SubmissionView:
    """Its owner (signed in) or a TA (bearer token); an open self-check upload by its id."""
    sub = _get(session, submission_id)
    if not can_view(viewer, sub):
        raise HTTPException(404, "No submission has this id.")  # not yours: not even whether it exists
    released = viewer.ta is not None or course.released_for(session, submission=sub)
    return one_view(session, sub, released=released, notes=True)


@router.post("/reports", status_code=202, response_model=PaperView, dependencies=[CsrfDep])
async def create_report(request: Request, session: SessionDep, settings: SettingsDep, limiter: LimiterDep,
                        report: Annotated[UploadFile, File()], student_id: Annotated[str, Form()] = "",
                        access_code: Annotated[str, Form()] = "") -> PaperView:
    """The report PDF on its own, by the same rules as the code (who, the deadline, the rate
    limit); its format check runs in seconds: poll `/api/reports/{id}`."""
    limiter.hit(request, "upload")
    try:
        paper = await submit_report(settings, request, report=report, typed_student_id=student_id,
                                    access_code=access_code)
    except UploadError as exc:
        raise _refuse(exc) from exc
    return await run_in_threadpool(lambda: paper_view(paper, zone=zone_of(session, paper)))


@router.get("/reports/{paper_id}", response_model=PaperView)
def read_report(session: SessionDep, viewer: ViewerDep, paper_id: str) -> PaperView:
    """Its owner (signed in) or a TA; an open self-check report by its id."""
    paper = session.get(Paper, paper_id)
    if paper is None or not can_view(viewer, paper):
        raise HTTPException(404, "No report has this id.")
    return paper_view(paper, zone=zone_of(session, paper))


def _report(session: SessionDep, sub: Submission) -> Report:
    if not sub.report_json:
        raise HTTPException(409, f"Submission {sub.id} is {sub.status}; its report is not ready.")
    return _seen(sub, scores_as_seen(session, subs=[sub]))


def _seen_dict(sub: Submission, points: dict[str, Scored]) -> dict[str, Any]:
    """The stored report with the TA's overrides and the late penalty applied (storage.gradebook)."""
    report = without_other_grades(json.loads(sub.report_json or "{}"))
    return report_as_seen(report, points[sub.id]) if sub.id in points else report


def _seen(sub: Submission, points: dict[str, Scored]) -> Report:
    return Report.model_validate(_seen_dict(sub, points))


@router.get("/submissions/{submission_id}/gradescope.json")
def gradescope(session: SessionDep, _ta: TaDep, submission_id: str) -> dict[str, Any]:
    return gradescope_results(_report(session, _get(session, submission_id)))


@router.get("/submissions/{submission_id}/prairielearn.json")
def prairielearn(session: SessionDep, _ta: TaDep, submission_id: str) -> dict[str, Any]:
    return prairielearn_results(_report(session, _get(session, submission_id)))


@router.post("/submissions/{submission_id}/regrade", status_code=202, response_model=SubmissionView)
def regrade_one(session: SessionDep, settings: SettingsDep, _ta: TaDep, submission_id: str) -> SubmissionView:
    sub = _get(session, submission_id)
    _requeue(session, settings, [sub.id])
    session.refresh(sub)
    return one_view(session, sub, with_report=False)


def _requeue(session: SessionDep, settings: SettingsDep, ids: list[str]) -> None:
    service.requeue(session, ids=ids, skip_training=settings.skip_training)
    send(settings, ids)


@router.post("/batches", status_code=201)
async def create_batch(session: SessionDep, store: StoreDep, settings: SettingsDep, ta: TaDep, background: BackgroundTasks,
                       files: Annotated[list[UploadFile], File()],
                       name: Annotated[str, Form()] = "",
                       on_behalf: Annotated[bool, Form(description=(
                           "true: each roster student's file becomes that student's submission of record "
                           "(submitted by this TA). false (default): the batch is a check that never "
                           "touches a student's gradebook."))] = False) -> dict[str, Any]:
    """Many files at once: `ID_resnet50_skeleton.py` files, or zips of `ID/resnet50_skeleton.py`."""
    limit = settings.max_upload_kb * 1024
    contents = ZipContents()  # a bad entry becomes a rejected row for its student (api/uploads.py)
    try:
        for upload in files:
            fname = upload.filename or ""
            if fname.endswith(".zip"):
                data = await upload.read(settings.max_zip_mb * 1024 * 1024 + 1)
                if len(data) > settings.max_zip_mb * 1024 * 1024:
                    raise UploadError(f"{fname} is larger than {settings.max_zip_mb} MiB.", 413)
                contents.extend(read_zip(data, max_entries=settings.max_zip_entries,
                                         max_total=settings.max_zip_mb * 1024 * 1024, max_file=limit,
                                         max_report=settings.max_report_mb << 20))
            else:
                student = student_of(fname)
                if student is None:
                    raise UploadError(f"{fname!r}: name files STUDENT_ID_resnet50_skeleton.py, or upload a zip.", 422)
                data = await upload.read(limit + 1)
                check_source(data, fname, limit)
                contents.extend(ZipContents(entries=[Entry(check_student_id(student), "resnet50_skeleton.py", data)]))
        if contents.count > settings.max_zip_entries:
            raise UploadError(f"{contents.count} files in one batch; the limit is {settings.max_zip_entries}.", 413)
    except UploadError as exc:
        raise _refuse(exc) from exc
    receipt = await run_in_threadpool(accept_batch, session, store, settings, contents=contents, name=name, ta=ta,
                                      on_behalf=on_behalf, max_score=scale(settings).max_score)
    background.add_task(send, settings, [sub.id for sub in receipt.accepted])
    subs, refused = receipt.accepted, receipt.refused
    batch_id = receipt.batch_id
    return {"batch_id": batch_id, "url": f"/api/batches/{batch_id}", "on_behalf": on_behalf,
            "submissions": [{"id": s.id, "student_id": s.student_id, "status": s.status,
                             "in_roster": s.student_id in receipt.on_roster, "of_record": s.student_pk is not None}
                            for s in [*subs, *refused]],
            "rejected": [{"id": s.id, "student_id": r.student_id, "entry": r.entry, "message": r.message}
                         for s, r in zip(refused, contents.rejected)],
            "reports": [{"id": p.id, "student_id": p.student_id, "url": f"/api/reports/{p.id}",
                         "of_record": p.student_pk is not None, "with_submission": p.submission_id}
                        for p in receipt.papers],
            "warnings": contents.warnings + receipt.warnings}


def _batch(session: SessionDep, batch_id: str) -> list[Submission]:
    subs = service.batch_submissions(session, batch_id=batch_id)
    if subs is None:
        raise HTTPException(404, "No batch has this id.")
    return subs


class BatchEntryView(BaseModel):
    id: str
    student_id: str
    status: str


class BatchView(BaseModel):
    batch_id: str
    total: int
    counts: dict[str, int]  # per status, over the whole batch
    done: bool
    offset: int
    limit: int
    submissions: list[BatchEntryView]  # this page: ids and statuses only
    details: list[SubmissionView] | None = None  # this page's full records, with ?details=true


@router.get("/batches/{batch_id}", response_model=BatchView)
def read_batch(session: SessionDep, _ta: TaDep, batch_id: str, offset: Annotated[int, Query(ge=0)] = 0,
               limit: Annotated[int, Query(ge=1, le=1000)] = 500, details: bool = False) -> BatchView:
    """Progress for a poll: counts and a page of ids (cheap); `details=true` adds that page's records."""
    progress = batches.batch_progress(session, batch_id=batch_id, offset=offset, limit=limit)
    if progress is None:
        raise HTTPException(404, "No batch has this id.")
    full = (submission_views(session, batches.batch_page(session, batch_id=batch_id, offset=offset, limit=limit),
                             with_report=False) if details else None)
    return BatchView(batch_id=batch_id, total=progress.total, counts=progress.counts,
                     done=all(status in FINAL for status in progress.counts), offset=offset, limit=limit,
                     submissions=[BatchEntryView(**e.__dict__) for e in progress.entries], details=full)


@router.get("/batches/{batch_id}/gradebook.csv", response_class=PlainTextResponse)
def gradebook(session: SessionDep, _ta: TaDep, batch_id: str) -> PlainTextResponse:
    subs = _batch(session, batch_id)
    points = scores_as_seen(session, subs=subs)
    rows = [(s.student_id, s.status, _seen(s, points) if s.report_json else None) for s in subs]
    return PlainTextResponse(gradebook_csv(rows), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="gradebook-{batch_id}.csv"'})


@router.get("/batches/{batch_id}/reports.json")
def reports(session: SessionDep, _ta: TaDep, batch_id: str) -> JSONResponse:
    subs = _batch(session, batch_id)
    points = scores_as_seen(session, subs=subs)
    body = [{"id": s.id, "student_id": s.student_id, "status": s.status,
             "report": _seen_dict(s, points) if s.report_json else None} for s in subs]
    return JSONResponse(body)


@router.post("/batches/{batch_id}/regrade", status_code=202)
def regrade_batch(session: SessionDep, settings: SettingsDep, _ta: TaDep, batch_id: str) -> dict[str, Any]:
    ids = [s.id for s in _batch(session, batch_id)]
    _requeue(session, settings, ids)
    return {"batch_id": batch_id, "requeued": len(ids)}
