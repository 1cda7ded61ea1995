"""TA sign-in with a name and password (accounts made by `autograder ta create`), and sign-out.

Only HTTP here: the password check is storage.ta_accounts.authenticate_ta, the session is
api.auth.sign_in_ta. Every failure reads the same, whether the name exists or not.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import (CsrfDep, LimiterDep, SignInLimiterDep, attach_csrf, safe_next, sign_in_ta, sign_out,
                      signed_in_ta, validate_csrf)
from api.deps import SessionDep
from api.routes.pages import templates
from storage.ta_accounts import authenticate_ta

router = APIRouter(prefix="/ta", include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}
WRONG = "That name and password do not match an active TA account."
TOO_MANY = "Too many failed sign-ins for this name or from your address: wait 15 minutes and try again."


def _page(request: Request, *, next_path: str, name: str = "", error: str | None = None,
          signed_in_as: str | None = None, status_code: int = 200) -> HTMLResponse:
    context = {"next": next_path, "name": name, "error": error, "signed_in_as": signed_in_as}
    return attach_csrf(request, templates.TemplateResponse(request, "ta_signin.html", context,
                                                           status_code=status_code, headers=NO_STORE))


@router.get("/signin", response_model=None)
def signin_form(request: Request, session: SessionDep, next: str = "/ta") -> HTMLResponse:  # noqa: A002
    return _page(request, next_path=safe_next(next), signed_in_as=signed_in_ta(request, session))


# validate_csrf, not CsrfDep: a first visit has no session cookie, and must still prove the form is ours.
@router.post("/signin", response_model=None, dependencies=[Depends(validate_csrf)])
def signin(request: Request, session: SessionDep, limiter: LimiterDep, failures: SignInLimiterDep,
           name: Annotated[str, Form(max_length=200)] = "", password: Annotated[str, Form(max_length=2048)] = "",
           next: Annotated[str, Form()] = "/ta",  # noqa: A002
           csrftoken: Annotated[str, Form()] = "") -> HTMLResponse | RedirectResponse:  # noqa: ARG001 - parsed for the check
    limiter.hit(request, "ta-signin")
    target = safe_next(next)
    if not failures.allowed(request, name):
        return _page(request, next_path=target, name=name, error=TOO_MANY, status_code=429)
    account = authenticate_ta(session, name=name, password=password)
    if account is None:
        failures.failed(request, name)
        return _page(request, next_path=target, name=name, error=WRONG, status_code=401)
    sign_in_ta(request, account)
    return RedirectResponse(target, status_code=303, headers=NO_STORE)


@router.post("/signout", dependencies=[CsrfDep])
def signout(request: Request, csrftoken: Annotated[str, Form()] = "") -> RedirectResponse:  # noqa: ARG001
    sign_out(request)
    return RedirectResponse("/ta/signin", status_code=303)
