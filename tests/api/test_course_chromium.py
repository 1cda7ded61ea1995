"""Two students in headless Chromium: sign in by link, upload, read the result and the history;
neither sees the other's work."""
from __future__ import annotations

from pathlib import Path

from grader.rubric import SOLUTION
from tests.api.test_course import course, import_roster  # noqa: F401 - the fixture
from tests.api.test_page_chromium import ARTIFACTS, CHROMIUM, FLAGS


def test_two_students_sign_in_upload_and_see_only_their_own(course, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    links = import_roster(course, tmp_path)
    upload = tmp_path / "resnet50_skeleton.py"
    upload.write_bytes(SOLUTION.read_bytes())
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        ann, bo = browser.new_context().new_page(), browser.new_context().new_page()
        ann.goto(course.url + "/")
        assert ann.locator("#signin-needed").count() == 1 and ann.locator("#upload-form").count() == 0
        ann.goto(links["A1"])
        assert "Ann Lee (A1)" in ann.locator("#signed-in").inner_text()
        assert ann.locator("#student_id").count() == 0  # the session says who uploads
        ann.set_input_files("#file", str(upload))
        ann.click("#submit")
        ann.wait_for_url("**/s/**")
        ann_result = ann.url
        ann.wait_for_selector("#score", timeout=180_000)
        score = ann.locator("#score").inner_text()
        ann.goto(course.url + "/")
        history = ann.locator("#history").inner_text()
        ann.screenshot(path=str(ARTIFACTS / "course-signed-in-history.png"), full_page=True)

        bo.goto(links["B2"])
        assert "Bo Kim (B2)" in bo.locator("#signed-in").inner_text()
        response = bo.goto(ann_result)
        b_status, b_text = response.status, bo.content()
        bo.goto(course.url + "/")
        b_history = bo.locator("#history").count()
        bo.click("#signout")
        bo.wait_for_load_state()
        signed_out = bo.locator("#signin-needed").count()
        browser.close()
    assert score.startswith("105 / 105"), score
    assert "graded" in history and "resnet50_skeleton.py" in history
    assert b_status == 404 and "105" not in b_text
    assert b_history == 0 and signed_out == 1
