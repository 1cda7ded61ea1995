"""TA accounts over real HTTP: uvicorn, SQLite on disk, the accounts made by the storage functions
and by the CLI. Sign-in, what a TA session reaches, what ends it, CSRF, the redirect after
sign-in, rate limits on failures; and the REST tokens' list and revoke.

No worker: nothing here is graded (an upload stays queued in the embedded broker).
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from fastapi import FastAPI

from api.auth import TaPageDep
from grader.rubric import SOLUTION
from tests.api.conftest import REPO, Service, make_service
from tests.conftest import listening

PASSWORD = "correct horse battery"
WRONG = "That name and password do not match an active TA account."


@pytest.fixture
def api(tmp_path: Path, test_checkpoint: Path) -> Iterator[Service]:
    svc = make_service(tmp_path, test_checkpoint, broker="sqlite")
    svc.env.update({"AUTOGRADER_TA_SIGNIN_FAILURES_PER_NAME": "3", "AUTOGRADER_TA_SIGNIN_FAILURES_PER_ADDRESS": "7"})
    try:
        svc.start_api()
        yield svc
    finally:
        svc.stop()


def db_url(svc: Service) -> str:
    return f"sqlite:///{svc.var_dir / 'autograder.sqlite'}"


def in_db(svc: Service, fn, **kw):  # noqa: ANN001, ANN003, ANN201 - a storage call on the service's database
    from storage.db import session_scope

    with session_scope(db_url(svc)) as session:
        return fn(session, **kw)


def make_ta(svc: Service, name: str = "alice", password: str = PASSWORD) -> None:
    from storage.ta_accounts import create_ta_account

    in_db(svc, create_ta_account, name=name, password=password)


def cli(svc: Service, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=REPO, env=svc.env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def form_token(c: httpx.Client, path: str = "/ta/signin") -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', c.get(path).text).group(1)


def sign_in(c: httpx.Client, name: str = "alice", password: str = PASSWORD, **extra: str) -> httpx.Response:
    return c.post("/ta/signin", data={"csrftoken": form_token(c), "name": name, "password": password, **extra},
                  follow_redirects=False)


GRADEBOOK = "/api/assignments/resnet50/gradebook.json"


def test_signed_in_ta_reaches_ta_routes_and_any_submission_without_a_token(api: Service) -> None:
    from storage.course import import_roster
    from storage.models import TaAccount
    from storage.ta_accounts import get_ta_account

    make_ta(api)
    stored = in_db(api, get_ta_account, name="alice")
    assert isinstance(stored, TaAccount) and stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    link = in_db(api, import_roster, rows=[{"student_id": "A1", "name": "Ann", "email": "a@example.edu"}])[0]
    student = api.client(follow_redirects=True)
    assert "signed-in" in student.get(f"/signin/{link.token}").text
    r = student.post("/submit", data={"csrftoken": form_token(student, "/")}, follow_redirects=False,
                     files={"file": ("resnet50_skeleton.py", SOLUTION.read_bytes(), "text/x-python")})
    assert r.status_code == 303, r.text[:300]
    sid = r.headers["location"].removeprefix("/s/")

    ta = api.client()
    assert ta.get(GRADEBOOK).status_code == 401
    assert ta.get(f"/api/submissions/{sid}").status_code == 404  # not the owner, not a TA yet
    r = sign_in(ta)
    assert r.status_code == 303 and r.headers["location"] == "/ta"
    assert "httponly" in r.headers["set-cookie"].lower()
    book = ta.get(GRADEBOOK)
    assert book.status_code == 200 and [row["student_id"] for row in book.json()] == ["A1"]
    assert ta.get(f"/api/submissions/{sid}").status_code == 200  # Viewer.ta from the session
    assert ta.get(f"/s/{sid}").status_code == 200
    assert in_db(api, get_ta_account, name="alice").last_sign_in_at is not None
    # A change made with the session cookie needs the page's CSRF token; a bearer script does not.
    forged = ta.put("/api/assignments/resnet50", json={"title": "forged"})
    assert forged.status_code == 403 and "Authorization: Bearer <token>" in forged.json()["detail"], forged.text
    token = form_token(ta)
    r = ta.put("/api/assignments/resnet50", json={"title": "From the session"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["title"] == "From the session"
    bearer = api.client(headers={"Authorization": f"Bearer {api.token()}"})
    assert bearer.put("/api/assignments/resnet50", json={"title": "From a script"}).status_code == 200
    # Signing out ends it.
    assert ta.post("/ta/signout", data={"csrftoken": form_token(ta)}).status_code == 303
    assert ta.get(GRADEBOOK).status_code == 401


def test_wrong_password_and_unknown_name_get_the_same_refusal(api: Service) -> None:
    make_ta(api)
    c = api.client()
    answers = [sign_in(c, password="not the password"), sign_in(c, name="mallory"), sign_in(c, password="")]
    for r in answers:
        assert r.status_code == 401 and WRONG in r.text and 'id="ta-signin-form"' in r.text, r.text[:300]
        assert re.sub(r'value="[^"]*"', "", r.text) == re.sub(r'value="[^"]*"', "", answers[0].text)
    assert c.get(GRADEBOOK).status_code == 401


def test_an_account_made_with_the_cli_signs_in(api: Service) -> None:
    out = cli(api, "ta", "create", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    short = cli(api, "ta", "create", "carol", "--password-stdin", stdin="short\n")
    assert short.returncode != 0 and "at least 10 characters" in short.stderr
    c = api.client()
    assert sign_in(c, "bob").status_code == 303 and c.get(GRADEBOOK).status_code == 200
    assert sign_in(api.client(), "carol", "short").status_code == 401


def test_password_change_and_disabling_end_existing_sessions(api: Service) -> None:
    from storage.ta_accounts import disable_ta_account, set_ta_password

    make_ta(api)
    first, second = api.client(), api.client()
    assert sign_in(first).status_code == 303 and sign_in(second).status_code == 303
    in_db(api, set_ta_password, name="alice", password="a new password here")
    assert first.get(GRADEBOOK).status_code == 401 and second.get(GRADEBOOK).status_code == 401
    assert sign_in(first).status_code == 401  # the old password no longer works
    assert sign_in(first, password="a new password here").status_code == 303
    assert first.get(GRADEBOOK).status_code == 200
    in_db(api, disable_ta_account, name="alice")
    assert first.get(GRADEBOOK).status_code == 401
    r = sign_in(second, password="a new password here")
    assert r.status_code == 401 and WRONG in r.text  # disabled reads like any failure


def test_signin_without_the_csrf_token_is_refused(api: Service) -> None:
    make_ta(api)
    c = api.client()
    form_token(c)  # the CSRF cookie is set, the token left out
    r = c.post("/ta/signin", data={"name": "alice", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post("/ta/signin", data={"name": "alice", "password": PASSWORD, "csrftoken": "forged"},
               follow_redirects=False)
    assert r.status_code == 403
    assert c.get(GRADEBOOK).status_code == 401  # nobody was signed in
    fresh = api.client()  # no cookie at all: another site's form
    assert fresh.post("/ta/signin", data={"name": "alice", "password": PASSWORD}).status_code == 403


@pytest.mark.parametrize("target", ["//evil.example", "//evil.example/ta", "/\\evil.example", "https://evil.example/",
                                    "evil.example", "/ta\r\nSet-Cookie: x=1"])
def test_next_may_only_be_a_path_on_this_site(api: Service, target: str) -> None:
    make_ta(api)
    c = api.client()
    r = sign_in(c, next=target)
    assert r.status_code == 303 and r.headers["location"] == "/ta", r.headers["location"]
    page = c.get("/ta/signin", params={"next": target}).text
    assert 'name="next" value="/ta"' in page and "evil" not in page


def test_next_keeps_a_local_path(api: Service) -> None:
    make_ta(api)
    r = sign_in(api.client(), next="/ta/submissions?status=failed")
    assert r.status_code == 303 and r.headers["location"] == "/ta/submissions?status=failed"


def test_student_and_ta_sessions_exclude_each_other(api: Service) -> None:
    from storage.course import import_roster

    make_ta(api)
    link = in_db(api, import_roster, rows=[{"student_id": "A1", "name": "Ann", "email": "a@example.edu"}])[0]
    c = api.client(follow_redirects=True)
    assert "signed-in" in c.get(f"/signin/{link.token}").text
    assert c.get(GRADEBOOK).status_code == 401  # a student's session is not a TA's
    assert c.post("/api/roster/A1/link", headers={"X-CSRF-Token": form_token(c, "/")}).status_code == 401
    assert sign_in(c).status_code == 303
    assert c.get(GRADEBOOK).status_code == 200
    assert "signin-needed" in c.get("/").text  # the student was signed out
    assert "signed-in" in c.get(f"/signin/{link.token}").text
    assert c.get(GRADEBOOK).status_code == 401  # and the TA, when the student signed in again


def test_failed_signins_are_limited_per_name_and_per_address(api: Service) -> None:
    make_ta(api)
    make_ta(api, "bob")
    c = api.client()
    assert [sign_in(c, password="wrong password").status_code for _ in range(3)] == [401] * 3
    r = sign_in(c)  # the right password, but this name has used its 3 failures
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text
    assert sign_in(api.client(), "bob").status_code == 303  # another name from the address: still 4 of 7
    codes = [sign_in(c, f"guess{i}", "wrong password").status_code for i in range(4)]
    assert codes == [401] * 4, codes  # 7 failures from this address now
    assert sign_in(api.client(), "bob").status_code == 429


def test_token_list_shows_no_secret_and_revoke_makes_the_token_fail(api: Service) -> None:
    token = api.token()
    bearer = api.client(headers={"Authorization": f"Bearer {token}"})
    assert bearer.get(GRADEBOOK).status_code == 200
    listing = cli(api, "token", "list")
    assert listing.returncode == 0 and listing.stdout.startswith("ta-") and "created" in listing.stdout
    assert token not in listing.stdout and token[:12] not in listing.stdout
    name = listing.stdout.split("\t")[0]
    out = cli(api, "token", "revoke", name)
    assert out.returncode == 0, out.stderr
    assert bearer.get(GRADEBOOK).status_code == 403
    assert cli(api, "token", "list").stdout == ""
    again = cli(api, "token", "revoke", name)
    assert again.returncode != 0 and "no token named" in again.stderr


def probe_app() -> FastAPI:
    """The service's app with one page behind TaPageDep, as the /ta pages use it (uvicorn --factory)."""
    from api.main import app_from_env

    app = app_from_env()

    @app.get("/ta/probe")
    def probe(ta: TaPageDep) -> dict[str, str]:
        return {"ta": ta}

    @app.post("/ta/probe")
    def probe_post(ta: TaPageDep) -> dict[str, str]:
        return {"ta": ta}

    return app


def test_ta_page_dependency_redirects_to_signin_and_back(tmp_path: Path, test_checkpoint: Path) -> None:
    """TaPageDep: a 303 to the sign-in with `next`, back there after it, the name once signed in."""
    svc = make_service(tmp_path, test_checkpoint, broker="sqlite")
    try:
        svc.api = svc._spawn("api", ["-m", "uvicorn", "tests.api.test_ta_signin:probe_app", "--factory",
                                     "--port", str(svc.port), "--log-level", "warning"])
        deadline = time.monotonic() + 60
        while not listening(svc.port) and time.monotonic() < deadline:
            time.sleep(0.2)
        make_ta(svc)
        c = svc.client()
        r = c.get("/ta/probe?x=1")
        assert r.status_code == 303 and r.headers["location"] == "/ta/signin?next=%2Fta%2Fprobe%3Fx%3D1"
        assert 'name="next" value="/ta/probe?x=1"' in c.get(r.headers["location"]).text
        r = sign_in(c, next="/ta/probe?x=1")
        assert r.status_code == 303 and r.headers["location"] == "/ta/probe?x=1"
        assert c.get("/ta/probe").json() == {"ta": "alice"}
        assert c.post("/ta/probe").status_code == 403  # a form POST without the page's token
        assert c.post("/ta/probe", data={"csrftoken": form_token(c)}).json() == {"ta": "alice"}
        assert c.post("/ta/probe", data={"csrftoken": "forged"}).status_code == 403
    finally:
        svc.stop()
