"""The student's page in headless Chromium (Debian's build, driven by Playwright)."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from grader.data import make_synthetic, save_cifar10_format
from grader.rubric import SOLUTION
from tests.api.conftest import REPO, make_service
from tests.conftest import listening

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_student_uploads_watches_progress_and_reads_the_score(tmp_path: Path, test_checkpoint: Path) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed (scripts/bootstrap.sh installs it)"
    assert listening(6379)
    data = tmp_path / "cifar"
    save_cifar10_format(data, *make_synthetic(600, 200, seed=1, learnable=True))
    svc = make_service(tmp_path, test_checkpoint, broker="redis")
    svc.env.update({"AUTOGRADER_SKIP_TRAINING": "false", "AUTOGRADER_DATA_DIR": str(data),
                    "AUTOGRADER_CACHE_DIR": str(tmp_path / "cache")})
    upload = tmp_path / "resnet50_skeleton.py"
    upload.write_bytes(SOLUTION.read_bytes())
    ARTIFACTS.mkdir(exist_ok=True)
    seen: list[str] = []
    interim: list[str] = []
    try:
        svc.start_api()
        svc.start_worker()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(svc.url + "/")
            page.fill("#student_id", "2021320322")
            page.set_input_files("#file", str(upload))
            page.click("#submit")
            page.wait_for_url("**/s/**")
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                # The page reloads itself when a verdict arrives, so the progress line can vanish
                # between two calls: read it without waiting, and poll again after a reload.
                try:
                    seen.extend(page.locator("#progress-text").all_inner_texts())
                    headings = page.locator("#score").all_inner_texts()
                    if page.locator("#loss-plot").count():
                        break
                    interim.extend(headings)  # the structure verdict while fine-tuning runs
                except PlaywrightError:
                    pass
                time.sleep(0.1)
            page.screenshot(path=str(ARTIFACTS / "student-result.png"), full_page=True)
            score = page.locator("#score").inner_text()
            items = page.locator("#items").inner_text()
            shapes = page.locator("#shapes").inner_text()
            # A phone: nothing wider than its 390 px, on the result page, the form, and a second result.
            page.set_viewport_size({"width": 390, "height": 844})
            widths = {"result": page.evaluate("document.documentElement.scrollWidth")}
            page.goto(svc.url + "/")
            widths["form"] = page.evaluate("document.documentElement.scrollWidth")
            page.fill("#student_id", "2021320322")
            page.set_input_files("#file", str(upload))
            page.click("#submit")
            page.wait_for_url("**/s/**")
            # Same bytes: the stored report is reused, and the page reloads itself when it lands.
            page.wait_for_selector("#loss-plot", timeout=240_000)
            page.wait_for_load_state()
            widths["second"] = page.evaluate("document.documentElement.scrollWidth")
            history = page.locator("#history tr").all_inner_texts()
            current = page.locator("#history tr.current").all_inner_texts()
            page.screenshot(path=str(ARTIFACTS / "student-second-390px.png"), full_page=True)
            browser.close()
    finally:
        svc.stop()
    assert re.match(r"\d+(\.\d+)? / 115 ", score) and "accuracy" in score, score  # accuracy points vary
    assert interim and all("so far" in h and "accuracy pending" in h and "/ 115" not in h for h in interim), interim
    assert all(w <= 390 for w in widths.values()), widths
    assert len(history) == 3 and len(current) == 1 and "(this one)" in current[0], history  # header + 2 uploads
    assert "(this one)" not in "".join(h for h in history if h not in current)
    assert "Q1a: bottleneck block" in items and "25 / 25" in items
    assert "1024×2×2" in shapes
    assert any("Fine-tuning" in s or "Checking" in s or "Waiting" in s for s in seen), seen


def test_api_docs_render_with_no_network(tmp_path: Path, test_checkpoint: Path) -> None:
    """/docs (Swagger UI) and /redoc list the operations from the server's own files: every
    request that leaves 127.0.0.1 is blocked and recorded, and there must be none, not even
    ReDoc's footer logo from its CDN (the page's CSP keeps images on this site)."""
    from playwright.sync_api import sync_playwright

    svc = make_service(tmp_path, test_checkpoint, broker="redis")
    outside: list[tuple[str, str]] = []

    def only_local(route) -> None:
        if route.request.url.startswith(svc.url):
            route.continue_()
        else:
            outside.append((route.request.resource_type, route.request.url))
            route.abort()

    try:
        svc.start_api()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.route("**/*", only_local)
            page.goto(svc.url + "/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            operations = page.locator(".opblock-summary-path").all_inner_texts()
            page.goto(svc.url + "/redoc")
            page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
            redoc = page.locator("[data-section-id^='operation/'] h2").all_inner_texts()
            icon = page.request.get(svc.url + "/favicon.ico")
            icon_status, icon_bytes = icon.status, icon.body()
            browser.close()
    finally:
        svc.stop()
    assert not outside, outside
    assert any(op.startswith("/api/batches") for op in operations), operations
    assert "Create Batch" in redoc, redoc
    assert icon_status == 200 and icon_bytes[:4] == b"\x00\x00\x01\x00"  # an ICO file
