"""Student sign-in by personal link, and sign-out. An LMS launch would call the same sign_in_student."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import CsrfDep, LimiterDep, sign_in_student, sign_out
from api.deps import SessionDep
from api.page_context import LINK_NOT_VALID
from api.routes.pages import templates
from storage.course import student_by_token

router = APIRouter(include_in_schema=False)
NO_REFERRER = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}  # the token must not leak onwards


@router.get("/signin/{token}", response_model=None)
def signin(request: Request, token: str, session: SessionDep, limiter: LimiterDep) -> HTMLResponse | RedirectResponse:
    limiter.hit(request, "signin")  # guessing links: a few dozen tries a minute per address, of 2^192
    student = student_by_token(session, token=token)
    if student is None:
        return templates.TemplateResponse(request, "problem.html", LINK_NOT_VALID, status_code=403,
                                          headers=NO_REFERRER)
    sign_in_student(request, student)
    return RedirectResponse("/", status_code=303, headers=NO_REFERRER)


@router.post("/signout", dependencies=[CsrfDep])
def signout(request: Request, csrftoken: Annotated[str, Form()] = "") -> RedirectResponse:  # noqa: ARG001 - parsed for the check
    sign_out(request)
    return RedirectResponse("/", status_code=303)
