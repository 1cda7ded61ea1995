"""The REST API: submissions (students and scripts) and batches (TAs, bearer token)."""
from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi.concurrency import run_in_threadpool
from fastapi import APIRouter, BackgroundTasks, File, Form, HTTPException, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import select, update

from api.deps import SessionDep, SettingsDep, StoreDep, TaDep
from api.exports import gradebook_csv, gradescope_results, prairielearn_results
from api.submit import accept, send, submit_upload
from api.uploads import Entry, UploadError, check_source, check_student_id, read_zip, student_of
from api.views import submission_view
from grader.report import Report
from storage.models import Batch, Submission

router = APIRouter(prefix="/api")


def _refuse(exc: UploadError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


def _get(session: SessionDep, submission_id: str) -> Submission:
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise HTTPException(404, "No submission has this id.")
    return sub


@router.post("/submissions", status_code=202)
async def create_submission(store: StoreDep, settings: SettingsDep, background: BackgroundTasks,
                            student_id: Annotated[str, Form()], file: Annotated[UploadFile, File()],
                            access_code: Annotated[str, Form()] = "") -> dict[str, Any]:
    """Upload one file; grading runs in the background. Poll `url` or the events stream."""
    try:
        sub = await submit_upload(settings, store, student_id=student_id, file=file, access_code=access_code)
    except UploadError as exc:
        raise _refuse(exc) from exc
    background.add_task(send, settings, [sub.id])  # after the response: the row is already durable
    return submission_view(sub, with_report=False)


@router.get("/submissions/{submission_id}")
def read_submission(session: SessionDep, submission_id: str) -> dict[str, Any]:
    return submission_view(_get(session, submission_id))


def _report(sub: Submission) -> Report:
    if not sub.report_json:
        raise HTTPException(409, f"Submission {sub.id} is {sub.status}; its report is not ready.")
    return Report.model_validate_json(sub.report_json)


@router.get("/submissions/{submission_id}/gradescope.json")
def gradescope(session: SessionDep, _ta: TaDep, submission_id: str) -> dict[str, Any]:
    return gradescope_results(_report(_get(session, submission_id)))


@router.get("/submissions/{submission_id}/prairielearn.json")
def prairielearn(session: SessionDep, _ta: TaDep, submission_id: str) -> dict[str, Any]:
    return prairielearn_results(_report(_get(session, submission_id)))


@router.post("/submissions/{submission_id}/regrade", status_code=202)
def regrade_one(session: SessionDep, settings: SettingsDep, _ta: TaDep, submission_id: str) -> dict[str, Any]:
    sub = _get(session, submission_id)
    _requeue(session, settings, [sub.id])
    return submission_view(session.get(Submission, sub.id), with_report=False)


def _requeue(session: SessionDep, settings: SettingsDep, ids: list[str]) -> None:
    session.execute(update(Submission).where(Submission.id.in_(ids), Submission.status != "running")
                    .values(status="queued", regrade=True, worker=None, structure_json=None, progress_json=None,
                            skip_training=settings.skip_training))
    session.commit()
    send(settings, ids)


@router.post("/batches", status_code=201)
async def create_batch(session: SessionDep, store: StoreDep, settings: SettingsDep, ta: TaDep, background: BackgroundTasks,
                       files: Annotated[list[UploadFile], File()],
                       name: Annotated[str, Form()] = "") -> dict[str, Any]:
    """Many files at once: `ID_resnet50_skeleton.py` files, or zips of `ID/resnet50_skeleton.py`."""
    limit = settings.max_upload_kb * 1024
    entries: list[Entry] = []
    try:
        for upload in files:
            fname = upload.filename or ""
            if fname.endswith(".zip"):
                data = await upload.read(settings.max_zip_mb * 1024 * 1024 + 1)
                if len(data) > settings.max_zip_mb * 1024 * 1024:
                    raise UploadError(f"{fname} is larger than {settings.max_zip_mb} MiB.", 413)
                entries += read_zip(data, max_entries=settings.max_zip_entries,
                                    max_total=settings.max_zip_mb * 1024 * 1024, max_file=limit)
            else:
                student = student_of(fname)
                if student is None:
                    raise UploadError(f"{fname!r}: name files STUDENT_ID_resnet50_skeleton.py, or upload a zip.", 422)
                data = await upload.read(limit + 1)
                check_source(data, fname, limit)
                entries.append(Entry(check_student_id(student), "resnet50_skeleton.py", data))
        if len(entries) > settings.max_zip_entries:
            raise UploadError(f"{len(entries)} files in one batch; the limit is {settings.max_zip_entries}.", 413)
    except UploadError as exc:
        raise _refuse(exc) from exc
    batch = Batch(name=name[:200], token_name=ta)
    session.add(batch)
    await run_in_threadpool(session.commit)
    subs = await run_in_threadpool(lambda: [
        accept(session, store, settings, student_id=e.student_id, filename=e.filename, data=e.data,
               batch_id=batch.id) for e in entries])
    background.add_task(send, settings, [sub.id for sub in subs])
    return {"batch_id": batch.id, "url": f"/api/batches/{batch.id}",
            "submissions": [{"id": s.id, "student_id": s.student_id} for s in subs]}


def _batch(session: SessionDep, batch_id: str) -> list[Submission]:
    if session.get(Batch, batch_id) is None:
        raise HTTPException(404, "No batch has this id.")
    return list(session.scalars(select(Submission).where(Submission.batch_id == batch_id)
                                .order_by(Submission.student_id)).all())


@router.get("/batches/{batch_id}")
def read_batch(session: SessionDep, _ta: TaDep, batch_id: str) -> dict[str, Any]:
    subs = _batch(session, batch_id)
    counts: dict[str, int] = {}
    for s in subs:
        counts[s.status] = counts.get(s.status, 0) + 1
    return {"batch_id": batch_id, "total": len(subs), "counts": counts,
            "done": all(s.status in ("graded", "rejected", "failed") for s in subs),
            "submissions": [submission_view(s, with_report=False) for s in subs]}


@router.get("/batches/{batch_id}/gradebook.csv", response_class=PlainTextResponse)
def gradebook(session: SessionDep, _ta: TaDep, batch_id: str) -> PlainTextResponse:
    rows = [(s.student_id, s.status, Report.model_validate_json(s.report_json) if s.report_json else None)
            for s in _batch(session, batch_id)]
    return PlainTextResponse(gradebook_csv(rows), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="gradebook-{batch_id}.csv"'})


@router.get("/batches/{batch_id}/reports.json")
def reports(session: SessionDep, _ta: TaDep, batch_id: str) -> JSONResponse:
    body = [{"id": s.id, "student_id": s.student_id, "status": s.status,
             "report": json.loads(s.report_json) if s.report_json else None} for s in _batch(session, batch_id)]
    return JSONResponse(body)


@router.post("/batches/{batch_id}/regrade", status_code=202)
def regrade_batch(session: SessionDep, settings: SettingsDep, _ta: TaDep, batch_id: str) -> dict[str, Any]:
    ids = [s.id for s in _batch(session, batch_id)]
    _requeue(session, settings, ids)
    return {"batch_id": batch_id, "requeued": len(ids)}
