"""The TA's roster page through the real app in-process (issue 26, item 11): each student's
submission status, an import that confirms and shows the list as it is now with the links issued
once, a per-student link reissue (confirmation, CSRF, the new link shown once), and a loud warning
while AUTOGRADER_PUBLIC_URL is unset."""
from __future__ import annotations

import base64
import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.uploads import Rejected
from grader.rubric import SOLUTION
from service.settings import ServiceSettings
from storage.db import session_scope
from storage.service import claim, finish
from storage.ta_accounts import create_ta_account
from tests.api.conftest import small_course

PASSWORD = "roster page password 1"


def token_of(html: str) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', html).group(1)


def _app(tmp_path: Path, public_url: str | None) -> tuple[TestClient, dict[str, str]]:
    app, settings, links, sub_id = small_course(tmp_path, public_url=public_url)
    data = SOLUTION.read_bytes()
    with session_scope(settings.resolved_database_url()) as s:
        report = Rejected("A1", "resnet50_skeleton.py", "A1's file is not the skeleton.", data).report(105)
        claim(s, sub_id, "w", 60.0)
        finish(s, sub_id, "w", status=report.status, report_json=report.model_dump_json(), score=0.0,
               max_score=105.0, accuracy=None)
        create_ta_account(s, name="tara", password=PASSWORD)
    c = TestClient(app)
    c.__enter__()
    r = c.post("/ta/signin", data={"csrftoken": token_of(c.get("/ta/signin").text), "name": "tara",
                                   "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    return c, links


def test_roster_shows_status_imports_with_a_confirmation_and_reissues_one_link(tmp_path: Path) -> None:
    c, links = _app(tmp_path, public_url=None)
    page = c.get("/ta/roster").text
    row = {sid: re.search(rf'<tr id="student-{sid}">(.*?)</tr>', page, re.S).group(1) for sid in ("A1", "B2")}
    assert "rejected" in row["A1"] and "missing" in row["B2"]
    assert 'id="no-public-url"' in page and "AUTOGRADER_PUBLIC_URL is not set" in page

    # Import: a confirmation, the list as it is now, the new links once (table and links.csv).
    csv_text = "student_id,name,email\nN1,New One,n1@example.edu\nA1,Ann Lee,a@x.edu\n"
    r = c.post("/ta/roster", data={"csrftoken": token_of(page)}, files={"file": ("roster.csv", csv_text, "text/csv")})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert "Imported 2 student(s): 1 new, 1 updated; 1 new sign-in link(s)" in r.text
    assert 'id="student-N1"' in r.text and "Ann Lee" in r.text and "3 students" in r.text
    data_url = re.search(r'href="data:text/csv;base64,([^"]+)" download="links.csv"', r.text).group(1)
    lines = base64.b64decode(data_url).decode().strip().splitlines()
    assert lines[0] == "student_id,name,email,link" and len(lines) == 2 and lines[1].startswith("N1,New One,")
    new_link = lines[1].split(",")[-1]
    assert new_link in r.text and c.get("/ta/roster").text.count(new_link) == 0  # shown once
    bad = c.post("/ta/roster", data={"csrftoken": token_of(c.get("/ta/roster").text)},
                 files={"file": ("roster.csv", "id;name\n", "text/csv")})
    assert bad.status_code >= 400 and 'id="error"' in bad.text

    # Reissue one student's link: a confirmation page, a CSRF-checked POST, the new link once.
    confirm = c.get("/ta/roster/B2/reissue")
    assert confirm.status_code == 200 and 'id="reissue-form"' in confirm.text and "stops working" in confirm.text
    assert c.post("/ta/roster/B2/link", data={"csrftoken": "forged"}).status_code == 403
    done = c.post("/ta/roster/B2/link", data={"csrftoken": token_of(confirm.text)})
    assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
    fresh = re.search(r'<code class="url" id="new-link">([^<]+)</code>', done.text).group(1)
    assert "/signin/" in fresh
    with TestClient(c.app) as student:
        assert student.get(links["B2"], follow_redirects=False).status_code == 403  # the old link is dead
        path = "/signin/" + fresh.split("/signin/")[1]
        assert student.get(path, follow_redirects=False).status_code == 303  # the new one signs in
    assert c.get("/ta/roster/ZZ/reissue").status_code == 404
    c.__exit__(None, None, None)


def test_with_a_public_url_the_links_use_it_and_no_banner(tmp_path: Path) -> None:
    c, _ = _app(tmp_path, public_url="https://grader.example.edu")
    page = c.get("/ta/roster").text
    assert 'id="no-public-url"' not in page
    done = c.post("/ta/roster/A1/link", data={"csrftoken": token_of(page)})
    assert re.search(r'id="new-link">https://grader\.example\.edu/signin/', done.text)
    c.__exit__(None, None, None)


@pytest.mark.parametrize("public_url", [None, "https://grader.example.edu"])
def test_startup_warns_when_links_have_no_public_address(tmp_path: Path, caplog, public_url) -> None:
    settings = ServiceSettings(var_dir=tmp_path / "var", database_url=None, broker_url=None, access_code=None,
                               data_dir=None, skip_training=True, public_url=public_url)
    with caplog.at_level(logging.WARNING, logger="autograder"):
        create_app(settings)
    warned = [r for r in caplog.records if "AUTOGRADER_PUBLIC_URL is not set" in r.getMessage()]
    assert bool(warned) == (public_url is None)
