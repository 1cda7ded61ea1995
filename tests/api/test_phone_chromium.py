"""The student's and the TA's pages on a phone (390 px) and a laptop (1366 px), in headless Chromium
(issue 26, item 8): no horizontal page scroll, no table cell pushed off-screen, no word cut in two.

A real grade (the stride-on-the-3×3 mistake, graded structure-only by the sandboxed engine) is
stored through the service's storage functions, so the Feedback column holds the judge's real
sentences; uvicorn serves the pages from SQLite on disk. Screenshots go to the test's tmp dir.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Iterator

import pytest

from bench.dashboard import Seeded, seed
from grader.rubric import SOLUTION
from tests.api.conftest import Service, make_service
from tests.api.test_page_chromium import CHROMIUM, FLAGS
from tests.grader.mutations import MUTATIONS

PASSWORD = "phone password 1234"
WIDTHS = (390, 1366)

# Every cell of these must lie inside the viewport, and no word in them may break across lines.
CHECK = """(selectors) => {
  const out = {scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth, off: [], cut: []};
  for (const sel of selectors) {
    for (const el of document.querySelectorAll(sel)) {
      const box = el.getBoundingClientRect();
      if (box.width && (box.right > window.innerWidth + 0.5 || box.left < -0.5)) out.off.push(sel + ": " + el.textContent.trim().slice(0, 60));
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const re = /[A-Za-z][A-Za-z'’]{2,24}/g;  // words (a break at a hyphen is no cut; not identifiers or URLs)
        let m;
        while ((m = re.exec(node.data))) {
          const range = document.createRange();
          range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
          const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
          if (tops.size > 1) out.cut.push(sel + ": " + m[0]);
        }
      }
    }
  }
  return out;
}"""


@pytest.fixture(scope="module")
def phone_class(tmp_path_factory: pytest.TempPathFactory, test_checkpoint: Path,
                structure_report) -> Iterator[tuple[Service, dict]]:
    from storage import course
    from storage.db import session_scope
    from storage.ta_accounts import create_ta_account

    sources = {"stride": MUTATIONS["stride_on_3x3"].apply(), "correct": SOLUTION.read_text()}
    reports = {k: structure_report(src) for k, src in sources.items()}
    svc = make_service(tmp_path_factory.mktemp("phone"), test_checkpoint, broker="sqlite")
    db = f"sqlite:///{svc.var_dir / 'autograder.sqlite'}"
    ids = seed(db, [Seeded("A1", "Ann Lee", sources["correct"], reports["correct"], accuracy=0.8),
                    Seeded("A1", "Ann Lee", sources["stride"], reports["stride"], accuracy=0.7),
                    Seeded("B2", "Bo Kim", sources["stride"], reports["stride"], accuracy=0.7),
                    Seeded("C3", "Cy Park", sources["correct"], None)])
    with session_scope(db) as s:
        a = course.default_assignment(s, name=None)
        course.configure_assignment(s, name=a.name, deadline=(dt.datetime.now(dt.UTC) + dt.timedelta(hours=30))
                                    .isoformat(), timezone="Asia/Seoul")
        link = course.issue_link(s, student=course.get_student(s, student_id="A1"))
        create_ta_account(s, name="tara", password=PASSWORD)
        s.commit()
    try:
        svc.start_api()
        yield svc, {"ids": ids, "link": f"/signin/{link.token}"}
    finally:
        svc.stop()


def _measure(page, selectors: list[str]) -> dict:
    return page.evaluate(CHECK, selectors)


@pytest.mark.parametrize("width", WIDTHS)
def test_student_and_ta_pages_fit_the_screen(phone_class, tmp_path: Path, width: int) -> None:
    from playwright.sync_api import sync_playwright

    svc, seeded = phone_class
    pages = {
        "student-result": (f"/s/{seeded['ids']['A1']}", ["#items td", "#history td", "#shapes td"]),
        "student-upload": ("/", ["#history td", "#assignment"]),
        "ta-overview": ("/ta", ["#deductions td", "#item-stats td", "#queue-table td", "#counts"]),
        "ta-roster": ("/ta/roster", ["#students td"]),
        "ta-lti": ("/ta/lti", ["#tool-values td", "#tool-values th"]),
        "ta-detail": (f"/ta/s/{seeded['ids']['B2']}", ["#items td"]),
        # A's result link opened on another device, signed out: a page, not JSON.
        "signed-out-result": (f"/s/{seeded['ids']['A1']}", ["#problem", "#way-on", ".more"]),
    }
    found: dict[str, dict] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        student = browser.new_context(viewport={"width": width, "height": 844})
        sp = student.new_page()
        sp.goto(svc.url + seeded["link"])
        ta = browser.new_context(viewport={"width": width, "height": 844})
        tp = ta.new_page()
        tp.goto(svc.url + "/ta/signin")
        tp.fill("#name", "tara")
        tp.fill("#password", PASSWORD)
        tp.click("#ta-signin")
        tp.wait_for_url("**/ta")
        other = browser.new_context(viewport={"width": width, "height": 844}).new_page()
        for name, (path, selectors) in pages.items():
            page = sp if name.startswith("student") else other if name.startswith("signed-out") else tp
            page.goto(svc.url + path)
            page.wait_for_load_state()
            found[name] = _measure(page, selectors)
            found[name]["cells"] = page.locator(", ".join(selectors)).count()
            found[name]["text"] = page.locator("body").inner_text()
            page.screenshot(path=str(tmp_path / f"{name}-{width}px.png"), full_page=True)
        browser.close()
    assert "Your work is safe" in found["signed-out-result"]["text"]
    for name, m in found.items():
        assert m["cells"] > 0, (name, "nothing to check")
        assert m["scroll"] <= m["inner"], (name, width, m)  # no horizontal page scroll
        assert not m["off"], (name, width, m["off"][:5])  # no cell off-screen or in a sideways scroll box
        assert not m["cut"], (name, width, m["cut"][:5])  # no word cut in two
