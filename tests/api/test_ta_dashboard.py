"""The TA dashboard over real HTTP (uvicorn, SQLite on disk) and in headless Chromium.

A small class is graded for real (structure only, by the sandboxed engine) and stored through
the service's storage functions: a correct file, the stride-on-the-3×3 mistake, a disguised
copy of a wrong file (renamed, reformatted, comments kept), two independently written correct
files, the layer1 padding mistake twice (once late), a queued upload and a student with none.
"""
from __future__ import annotations

import base64
import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from bench.dashboard import Seeded, seed
from grader.rubric import SOLUTION
from tests.api.conftest import Service, make_service
from tests.api.test_page_chromium import ARTIFACTS, CHROMIUM, FLAGS
from tests.grader.mutations import MUTATIONS
from tests.similarity.samples import correct_comprehension, correct_explicit, disguised_copy, wrong_solution

PASSWORD = "dashboard password 1"
STRIDE_LINE = "conv3x3(middle_channels, middle_channels, 2, 1)"


@pytest.fixture(scope="module")
def graded(structure_report) -> dict[str, tuple[str, object]]:
    wrong = wrong_solution()
    sources = {"correct": SOLUTION.read_text(), "stride": MUTATIONS["stride_on_3x3"].apply(),
               "wrong": wrong, "copy": disguised_copy(wrong), "explicit": correct_explicit(),
               "comprehension": correct_comprehension(), "padding": MUTATIONS["layer1_padding_5_0"].apply()}
    reports = {k: structure_report(src) for k, src in sources.items()}  # the engine's, sandboxed, as a worker's
    return {k: (sources[k], reports[k]) for k in sources}


@pytest.fixture(scope="module")
def ta_class(graded, tmp_path_factory: pytest.TempPathFactory, test_checkpoint: Path) -> Iterator[tuple[Service, dict]]:
    from storage.course import import_roster
    from storage.db import session_scope
    from storage.ta_accounts import create_ta_account

    svc = make_service(tmp_path_factory.mktemp("ta"), test_checkpoint, broker="sqlite")
    db = f"sqlite:///{svc.var_dir / 'autograder.sqlite'}"

    def up(sid: str, key: str, **kw) -> Seeded:
        source, report = graded[key]
        return Seeded(sid, f"Name {sid}", source, report, accuracy=kw.pop("accuracy", 0.8), **kw)

    uploads = [up("A1", "correct", accuracy=0.82), up("B2", "wrong", accuracy=0.61), up("C3", "copy", accuracy=0.6),
               up("D4", "explicit", accuracy=0.81), up("E5", "comprehension", accuracy=0.79),
               up("F6", "padding", accuracy=0.7), up("G7", "padding", accuracy=0.71, late_s=7200.0),
               up("K9", "stride", accuracy=0.74), Seeded("J8", "Name J8", graded["correct"][0], None)]
    ids = seed(db, uploads)
    with session_scope(db) as s:
        import_roster(s, rows=[{"student_id": "H0", "name": "Nobody Yet", "email": "h0@example.edu"}])
        link = import_roster(s, rows=[{"student_id": "Z1", "name": "Zed", "email": "z@example.edu"}])[0]
        create_ta_account(s, name="tara", password=PASSWORD)
    try:
        svc.start_api()
        yield svc, {"ids": ids, "student_link": f"/signin/{link.token}", "db": db}
    finally:
        svc.stop()


def token_of(html: str) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', html).group(1)


@contextmanager
def ta_client(svc: Service) -> Iterator[httpx.Client]:
    """A client with the TA signed in through the sign-in form."""
    with svc.client() as c:
        r = c.post("/ta/signin", data={"csrftoken": token_of(c.get("/ta/signin").text), "name": "tara",
                                       "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ta"
        yield c


def test_pages_need_a_signed_in_ta(ta_class) -> None:
    svc, info = ta_class
    some = info["ids"]["A1"]
    with svc.client() as anonymous:
        for path in ("/ta", "/ta/submissions", f"/ta/s/{some}", "/ta/similarity", "/ta/roster"):
            r = anonymous.get(path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/ta/signin?next="), path
        r = anonymous.post(f"/ta/s/{some}/override", data={"item": "q2_blanks", "points": "0", "comment": "x"},
                           follow_redirects=False)
        assert r.status_code in (303, 403)
    with svc.client() as student:
        assert student.get(info["student_link"], follow_redirects=True).status_code == 200
        assert student.get("/ta", follow_redirects=False).status_code == 303
        assert student.get(f"/ta/s/{some}", follow_redirects=False).status_code == 303


def test_overview_counts_histograms_questions_and_blanks(ta_class) -> None:
    svc, _ = ta_class
    with ta_client(svc) as c:
        html = c.get("/ta").text
    counts = {k: int(v) for k, v in re.findall(r'id="count-(\w+)"><span class="n">(\d+)</span>', html)}
    assert counts["submitted"] == 9 and counts["missing"] == 2  # H0 and Z1 uploaded nothing
    assert counts["late"] == 1 and counts["queued"] == 1 and counts["graded"] == 8
    scores = re.search(r'<svg[^>]*id="score-histogram".*?</svg>', html, re.S).group(0)
    assert sum(map(int, re.findall(r'data-count="(\d+)"', scores))) == 8
    accuracy = re.search(r'<svg[^>]*id="accuracy-histogram".*?</svg>', html, re.S).group(0)
    assert sum(map(int, re.findall(r'data-count="(\d+)"', accuracy))) == 8
    blanks = re.search(r'<table class="compact" id="blank-stats">(.*?)</table>', html, re.S).group(1)
    first_two = re.findall(r"<code>([^<]+)</code></td><td>(\d+) of (\d+)", blanks)[:2]
    assert {b for b, _, _ in first_two} == {"layer1.conv.padding", "layer1.maxpool.padding"}
    assert all((wrong, n) == ("2", "8") for _, wrong, n in first_two)
    deductions = re.search(r'id="deductions">(.*?)</table>', html, re.S).group(1)
    assert "F6" in deductions and "G7" in deductions
    items = re.search(r'id="item-stats">(.*?)</table>', html, re.S).group(1)
    assert "Q1a" in items or "q1" in items.lower()


def test_table_filters_searches_and_sorts(ta_class) -> None:
    svc, _ = ta_class
    with ta_client(svc) as c:
        def students(query: str) -> list[str]:
            return re.findall(r'<tr data-student="([^"]+)">', c.get("/ta/submissions" + query).text)

        assert sorted(students("")) == ["A1", "B2", "C3", "D4", "E5", "F6", "G7", "J8", "K9"]
        assert sorted(students("?item=q2_blanks")) == ["F6", "G7"]
        assert students("?late=1") == ["G7"]
        assert students("?status=queued") == ["J8"]
        assert students("?q=name+d4") == ["D4"]
        by_score = students("?sort=score&desc=false&status=graded")
        assert by_score[-1] in {"A1", "D4", "E5"} and by_score[0] in {"B2", "C3", "K9"}
        assert students("?sort=student&desc=false")[:3] == ["A1", "B2", "C3"]


def test_detail_shows_deductions_at_their_lines_and_an_override_reaches_gradebook_and_audit(ta_class) -> None:
    svc, info = ta_class
    sid = info["ids"]["K9"]
    with ta_client(svc) as c:
        html = c.get(f"/ta/s/{sid}").text
        at = [int(n) for n in re.findall(r'<ul class="deductions-at" data-line="(\d+)"', html)]
        source = MUTATIONS["stride_on_3x3"].apply().split("\n")
        assert at and any(STRIDE_LINE in source[n - 1] for n in at), [source[n - 1] for n in at]
        assert 'id="history"' in html and 'class="current"' in html

        before = {r["student_id"]: r for r in c.get("/api/assignments/resnet50/gradebook.json").json()}["K9"]
        r = c.post(f"/ta/s/{sid}/override", data={"csrftoken": token_of(html), "item": "q1_downsample",
                                                   "points": "20", "comment": "stride placement accepted"},
                   follow_redirects=False)
        assert r.status_code == 303
        after = {r["student_id"]: r for r in c.get("/api/assignments/resnet50/gradebook.json").json()}["K9"]
        assert after["final_score"] > before["final_score"] and "q1_downsample" in after["overridden"]
        audit = c.get(f"/ta/s/{sid}").text
        log = re.search(r'id="audit-table">(.*?)</table>', audit, re.S).group(1)
        assert "tara" in log and "stride placement accepted" in log and "q1_downsample" in log
        # Without the page's CSRF token the same form is refused and nothing changes.
        r = c.post(f"/ta/s/{sid}/override", data={"item": "q1_downsample", "points": "0", "comment": "x"},
                   follow_redirects=False)
        assert r.status_code == 403
        again = {r["student_id"]: r for r in c.get("/api/assignments/resnet50/gradebook.json").json()}["K9"]
        assert again["final_score"] == after["final_score"]


def test_similarity_flags_the_disguised_copy_and_not_two_correct_files(ta_class) -> None:
    svc, _ = ta_class
    with ta_client(svc) as c:
        html = c.get("/ta/similarity").text
        pairs = set(re.findall(r'<tr class="pair" data-a="([^"]+)" data-b="([^"]+)">', html))
        assert ("B2", "C3") in pairs
        assert not pairs & {("D4", "E5"), ("A1", "D4"), ("A1", "E5")}
        side = c.get("/ta/similarity/pair", params={"left": "B2", "right": "C3"}).text
        assert side.count('class="l shared"') > 10
        assert c.get("/ta/similarity/pair", params={"left": "D4", "right": "E5"}).status_code == 404


def test_regrade_from_the_page_queues_the_file(ta_class) -> None:
    svc, info = ta_class
    sid = info["ids"]["E5"]
    with ta_client(svc) as c:
        html = c.get(f"/ta/s/{sid}").text
        r = c.post(f"/ta/s/{sid}/regrade", data={"csrftoken": token_of(html)}, follow_redirects=False)
        assert r.status_code == 303
        assert c.get(f"/api/submissions/{sid}").json()["status"] == "queued"


def test_live_queue_streams_the_queue_with_an_eta(ta_class) -> None:
    svc, _ = ta_class
    with ta_client(svc) as c:
        with c.stream("GET", "/ta/queue/events") as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            first = next(line for line in r.iter_lines() if line.startswith("data: "))
    queue = json.loads(first.removeprefix("data: "))
    waiting = [e for e in queue["entries"] if e["status"] == "queued"]
    assert queue["queued"] >= 1 and waiting and waiting[0]["position"] == 1 and waiting[0]["eta"]
    assert "J8" in {e["student_id"] for e in waiting}
    with svc.client() as anonymous:
        assert anonymous.get("/ta/queue/events", follow_redirects=False).status_code == 303


def test_roster_import_on_the_ta_page_hands_back_the_new_links(ta_class) -> None:
    svc, _ = ta_class
    with ta_client(svc) as c:
        page = c.get("/ta/roster").text
        assert "A1" in page and "Name A1" in page
        csv_text = "student_id,name,email\nN1,New One,n1@example.edu\nA1,Name A1,a1@example.edu\n"
        r = c.post("/ta/roster", data={"csrftoken": token_of(page)}, files={"file": ("roster.csv", csv_text, "text/csv")})
        assert r.status_code == 200 and 'id="done"' in r.text and 'id="student-N1"' in r.text  # confirmed, listed
        data_url = re.search(r'href="data:text/csv;base64,([^"]+)" download="links.csv"', r.text).group(1)
        lines = base64.b64decode(data_url).decode().strip().splitlines()
        assert lines[0] == "student_id,name,email,link" and len(lines) == 2 and lines[1].startswith("N1,New One,")
        assert "/signin/" in lines[1]  # A1 already has a live link: none is issued again
        bad = c.post("/ta/roster", data={"csrftoken": token_of(c.get("/ta/roster").text)},
                     files={"file": ("roster.csv", "id;name\n", "text/csv")})
        assert bad.status_code >= 400 and 'id="error"' in bad.text


def test_ta_in_chromium_histograms_filter_detail_override_similarity(ta_class) -> None:
    from playwright.sync_api import sync_playwright

    svc, info = ta_class
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        page.goto(svc.url + "/ta")
        assert "/ta/signin" in page.url
        page.fill("input[name=name]", "tara")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/ta")
        assert page.locator("#score-histogram rect.bar").count() == 10
        assert page.locator("#accuracy-histogram rect.bar").count() == 10
        page.screenshot(path=str(ARTIFACTS / "ta-overview.png"), full_page=True)
        page.locator("#score-histogram").screenshot(path=str(ARTIFACTS / "ta-score-histogram.png"))
        page.locator("#accuracy-histogram").screenshot(path=str(ARTIFACTS / "ta-accuracy-histogram.png"))

        page.goto(svc.url + "/ta/submissions")
        page.select_option("select[name=item]", "q2_blanks")
        page.click("#filters button")
        page.wait_for_url("**item=q2_blanks**")
        shown = sorted(page.locator("#submissions tr[data-student]").evaluate_all("rs => rs.map(r => r.dataset.student)"))
        page.screenshot(path=str(ARTIFACTS / "ta-submissions.png"), full_page=True)
        page.click("#submissions tr[data-student=F6] a >> nth=0")
        page.wait_for_url("**/ta/s/**")
        marked = page.locator("ul.deductions-at").count()
        page.screenshot(path=str(ARTIFACTS / "ta-detail.png"), full_page=True)
        page.select_option("#override-form select[name=item]", "q2_blanks")
        page.fill("#override-form input[name=points]", "25")
        page.fill("#override-form textarea[name=comment]", "padding 5 with maxpool 0 accepted")
        page.click("#override-form button")
        page.wait_for_selector("#done")
        audit = page.locator("#audit-table").inner_text()

        page.goto(svc.url + "/ta/similarity")
        flagged = page.locator("#pairs tr.pair").evaluate_all("rs => rs.map(r => [r.dataset.a, r.dataset.b])")
        page.click("#pairs tr.pair[data-a=B2][data-b=C3] >> text=side by side")
        page.wait_for_url("**/similarity/pair**")
        shared = page.locator("#left .l.shared").count()
        page.screenshot(path=str(ARTIFACTS / "ta-similarity-pair.png"), full_page=True)

        phone = browser.new_context(viewport={"width": 390, "height": 800}, storage_state=page.context.storage_state()).new_page()
        phone.goto(svc.url + "/ta")
        width = phone.evaluate("document.documentElement.scrollWidth")
        browser.close()
    assert shown == ["F6", "G7"]
    assert marked >= 1
    assert "padding 5 with maxpool 0 accepted" in audit
    assert ["B2", "C3"] in flagged and ["D4", "E5"] not in flagged
    assert shared > 10
    assert width <= 400, f"the overview is {width} px wide at 390 px"
