"""The report end to end in headless Chromium (issue 27), on the real service (uvicorn, a Celery
worker with its report loop, the sandboxed parser, SQLite on disk): a student sends the code and
a one-page report and reads the format feedback; a TA opens the grade and sees the report beside
the code, with the stated accuracy against the measured one.

The service grades structure only (no CPU fine-tune in a test), so the measured accuracy is
written into the graded row the way a worker stores it; everything the pages show is read back
through the service.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from grader.rubric import SOLUTION
from storage import course
from storage.db import session_scope
from storage.models import Submission
from storage.ta_accounts import create_ta_account
from tests.api.conftest import make_service
from tests.api.test_page_chromium import ARTIFACTS, CHROMIUM, FLAGS
from tests.papers.pdfs import report_pdf

PASSWORD = "report reading password"


def test_student_sends_code_and_report_then_a_ta_reads_them_side_by_side(tmp_path: Path, test_checkpoint: Path) -> None:
    from playwright.sync_api import sync_playwright

    svc = make_service(tmp_path, test_checkpoint, broker="sqlite")
    db = f"sqlite:///{svc.var_dir / 'autograder.sqlite'}"
    svc.start_api()  # makes the tables
    with session_scope(db) as s:
        link = course.import_roster(s, rows=[{"student_id": "A1", "name": "Ann Lee", "email": "ann@x.edu"}])[0]
        create_ta_account(s, name="tara", password=PASSWORD)
    code, pdf = tmp_path / "resnet50_skeleton.py", tmp_path / "report.pdf"
    code.write_bytes(SOLUTION.read_bytes())
    pdf.write_bytes(report_pdf())  # one page, two columns, English, "test accuracy of 81.18 %"
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        svc.start_worker()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            ann = browser.new_context().new_page()
            ann.goto(svc.url + f"/signin/{link.token}")
            ann.set_input_files("#file", str(code))
            ann.set_input_files("#report", str(pdf))
            ann.click("#submit")
            ann.wait_for_url("**/s/**")
            sid = ann.url.rsplit("/", 1)[1]
            ann.click("#sent-report a")
            ann.wait_for_url("**/r/**")
            ann.wait_for_selector("#report-checks", timeout=90_000)  # the page reloads until the check is done
            checks = ann.locator("#report-checks").inner_text()
            chosen = ann.locator("#chosen-claim").inner_text()
            ann.screenshot(path=str(ARTIFACTS / "report-student.png"), full_page=True)
            ann.goto(svc.url + "/")
            listed = ann.locator("#reports").inner_text()

            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:  # the code's grade (structure only)
                with session_scope(db) as s:
                    sub = s.get(Submission, sid)
                    if sub.status == "graded":
                        report = json.loads(sub.report_json)
                        report["reference_accuracy"] = 0.8
                        sub.accuracy, sub.report_json = 0.62, json.dumps(report)
                        break
                time.sleep(0.5)
            assert sub.status == "graded", sub.status

            ta = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            ta.goto(svc.url + f"/ta/s/{sid}")
            ta.fill("input[name=name]", "tara")
            ta.fill("input[name=password]", PASSWORD)
            ta.click("button[type=submit]")
            ta.wait_for_url(f"**/ta/s/{sid}")
            ta.wait_for_selector("#report")
            claim = ta.locator("#claim-words").inner_text()
            flagged = ta.locator("#claim-flag").count()
            preview_ok = ta.evaluate("() => { const i = document.querySelector('#report-preview img') "
                                     "|| document.querySelector('img#report-preview'); return !!i && i.naturalWidth > 100; }")
            code_lines = ta.locator(".ln").count()
            ta.screenshot(path=str(ARTIFACTS / "report-ta-detail.png"), full_page=True)
            browser.close()
    finally:
        svc.stop()
    assert "two columns" in checks and "problem" not in checks.split("two columns")[1].split("\n")[0], checks
    assert "English" in checks and "81.18" in chosen, (checks, chosen)
    assert "of record" in listed and "format ok" in listed, listed
    assert "81.18 %" in claim and "62.00 %" in claim and "80.00 %" in claim and flagged == 1, claim
    assert preview_ok and code_lines > 50  # the report's page beside the student's code
