"""Every error in the form its reader can use (issue 26, item 7), through the real app in-process:
a page with a viewport and a way on for a browser, `{"detail": ...}` for /api and for JSON clients."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import small_course


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def app_and_links(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    app, _, links, sid = small_course(tmp_path)
    with TestClient(app) as c:
        yield c, links, sid


def _is_page(r) -> str:
    assert r.headers["content-type"].startswith("text/html"), r.headers
    html = r.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<style>" in html and 'id="way-on"' in html and 'href="/"' in html  # styled, with a way on
    return html


def test_a_result_link_signed_out_says_the_work_is_safe_and_how_to_sign_in(app_and_links) -> None:
    c, links, sid = app_and_links
    r = c.get(f"/s/{sid}", headers=BROWSER)
    assert r.status_code == 404
    html = _is_page(r)
    assert "Your work is safe" in html and "personal sign-in link" in html and "No submission has this address" not in html
    # Another student's browser reads the same page (nothing tells a result from no result) ...
    c.get(links["B2"])
    other = c.get(f"/s/{sid}", headers=BROWSER)
    assert other.status_code == 404 and "Your work is safe" in other.text and "signed in, but not as" in other.text
    assert c.get("/s/no-such-id", headers=BROWSER).text.replace("no-such-id", sid) == other.text
    # ... and the owner's browser the result.
    c.get(links["A1"])
    assert c.get(f"/s/{sid}", headers=BROWSER).status_code == 200


def test_scripts_and_the_api_keep_json(app_and_links) -> None:
    c, _, sid = app_and_links
    for path, headers in ((f"/s/{sid}", {"Accept": "application/json"}), ("/api/submissions/nope", BROWSER),
                          ("/api/nowhere", {}), (f"/s/{sid}/events", {})):
        r = c.get(path, headers=headers)
        assert r.status_code == 404 and r.headers["content-type"] == "application/json", path
        assert isinstance(r.json()["detail"], str)


def test_unknown_paths_get_a_page(app_and_links) -> None:
    c, _, _ = app_and_links
    r = c.get("/nothing/here", headers=BROWSER)
    assert r.status_code == 404 and "There is no page at this address" in _is_page(r)
    default = c.get("/nothing/here")  # httpx's Accept */*: a browser-like client gets the page too
    assert default.status_code == 404 and default.headers["content-type"].startswith("text/html")


def test_a_replaced_sign_in_link_gets_a_styled_page_with_a_viewport(app_and_links) -> None:
    c, links, _ = app_and_links
    r = c.get(links["A1"] + "x", headers=BROWSER)
    assert r.status_code == 403 and r.headers["referrer-policy"] == "no-referrer"
    html = _is_page(r)
    assert "This sign-in link is not valid" in html and "ask your TA for your current link" in html


def test_a_browser_form_missing_its_fields_gets_a_page(app_and_links) -> None:
    c, _, _ = app_and_links
    r = c.post("/submit", data={}, headers=BROWSER)  # no session cookie: CSRF passes, the file is missing
    assert r.status_code == 422 and "Nothing was stored" in _is_page(r)
    assert c.post("/api/submissions", data={}).headers["content-type"] == "application/json"
