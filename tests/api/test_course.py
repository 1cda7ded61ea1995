"""The course of record end to end: real uvicorn, Celery worker, Redis and SQLite on disk.

A roster imported with the CLI, students signed in by their links, privacy between them,
CSRF, rate limits that one student cannot spend for another, the deadline, the gradebook
with its final rule, overrides with their audit log, and a regrade after a rubric change.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from grader.rubric import SOLUTION
from tests.api.conftest import REDIS_DB, REPO, Service, make_service
from tests.conftest import listening

REFERENCE = SOLUTION.read_bytes()
COURSE_REDIS_DB = REDIS_DB + 1
ROSTER = "student_id,name,email\nA1,Ann Lee,ann@example.edu\nB2,Bo Kim,bo@example.edu\nC3,Cy Park,cy@example.edu\n"


def cli(svc: Service, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=REPO, env=svc.env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def import_roster(svc: Service, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER)
    links = cli(svc, "roster", "import", str(path), "--base-url", svc.url)
    return {row["student_id"]: row["link"] for row in csv.DictReader(io.StringIO(links))}


def signed_in(svc: Service, link: str) -> httpx.Client:
    c = svc.client(follow_redirects=True)
    r = c.get(link.removeprefix(svc.url))
    assert r.status_code == 200 and "signed-in" in r.text, r.text[:500]
    return c


def csrf(c: httpx.Client) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', c.get("/").text).group(1)


def page_upload(c: httpx.Client, data: bytes = REFERENCE, token: str | None = None) -> httpx.Response:
    return c.post("/submit", data={"csrftoken": token if token is not None else csrf(c)},
                  files={"file": ("resnet50_skeleton.py", data, "text/x-python")}, follow_redirects=False)


def sub_id(r: httpx.Response) -> str:
    assert r.status_code == 303, r.text[:500]
    return r.headers["location"].removeprefix("/s/")


@contextmanager
def course_service(tmp_path: Path, test_checkpoint: Path, **env: str) -> Iterator[Service]:
    import redis

    assert listening(6379), "Redis is not running on 127.0.0.1:6379"
    svc = make_service(tmp_path, test_checkpoint, broker="redis")
    # A Redis database of its own: another checkout's service tests on this machine share db 7,
    # and their workers would take these jobs.
    redis.Redis(db=COURSE_REDIS_DB).flushdb()
    svc.env.update({"AUTOGRADER_BROKER_URL": f"redis://127.0.0.1:6379/{COURSE_REDIS_DB}", **env})
    with svc.running():
        yield svc


@pytest.fixture
def course(tmp_path: Path, test_checkpoint: Path) -> Iterator[Service]:
    with course_service(tmp_path, test_checkpoint) as svc:
        yield svc


def test_students_see_and_spend_only_their_own(course: Service, tmp_path: Path) -> None:
    links = import_roster(course, tmp_path)
    assert set(links) == {"A1", "B2", "C3"}
    ta = {"Authorization": f"Bearer {course.token()}"}
    anon = course.client()
    assert "signin-needed" in anon.get("/").text  # a roster exists: no upload form without sign-in
    r = anon.post("/api/submissions", data={"student_id": "A1"}, files={"file": ("resnet50_skeleton.py", REFERENCE)})
    assert r.status_code == 401 and "Sign in" in r.json()["detail"]
    assert anon.get(links["A1"].removeprefix(course.url) + "x").status_code == 403  # a wrong link signs nobody in

    a, b = signed_in(course, links["A1"]), signed_in(course, links["B2"])
    mine = sub_id(page_upload(a))
    theirs = sub_id(page_upload(b))
    # A cannot see B's result, by page, API or event stream; a TA can.
    for path in (f"/s/{theirs}", f"/api/submissions/{theirs}", f"/s/{theirs}/events"):
        assert a.get(path).status_code == 404, path
        assert anon.get(path).status_code == 404, path
    assert a.get(f"/api/submissions/{mine}").json()["student_id"] == "A1"
    assert anon.get(f"/api/submissions/{theirs}", headers=ta).status_code == 200
    assert theirs not in a.get("/").text and mine in a.get("/").text
    # A cannot submit as B: the session decides, a typed ID is ignored.
    r = a.post("/api/submissions", data={"student_id": "B2"}, headers={"X-CSRF-Token": csrf(a)},
               files={"file": ("resnet50_skeleton.py", REFERENCE)})
    assert r.status_code == 202 and r.json()["student_id"] == "A1"
    # A form or upload without the page's CSRF token is refused and stores nothing.
    before = len(a.get("/").text.split("/s/"))
    r = page_upload(a, token="forged")
    assert r.status_code == 403 and "CSRF" in r.text
    assert len(a.get("/").text.split("/s/")) == before
    # A spends A's limit (5 an hour in these tests), not B's.
    codes = [page_upload(a).status_code for _ in range(4)]
    assert codes[-1] == 429 and codes[:2] == [303, 303], codes
    assert page_upload(b).status_code == 303
    # Re-issuing A's link ends A's session; the old link no longer signs in. Revoking B's ends B's.
    cli(course, "roster", "links", "A1", "--base-url", course.url)
    assert "signin-needed" in a.get("/").text
    assert anon.get(links["A1"].removeprefix(course.url)).status_code == 403
    cli(course, "roster", "revoke", "B2")
    assert "signin-needed" in b.get("/").text and b.get(f"/api/submissions/{theirs}").status_code == 404
    listing = cli(course, "roster", "list")
    assert "A1\tAnn Lee\tann@example.edu\tlink active" in listing and "B2\tBo Kim\tbo@example.edu\tno link" in listing


def test_gradebook_final_rule_override_audit_and_regrade(course: Service, tmp_path: Path, test_checkpoint: Path) -> None:
    from tests.grader.mutations import MUTATIONS

    links = import_roster(course, tmp_path)
    ta = {"Authorization": f"Bearer {course.token()}"}
    a, b = signed_in(course, links["A1"]), signed_in(course, links["B2"])
    wrong = next(m for m in MUTATIONS.values() if sum(m.lost.values()) > 0)
    first = sub_id(page_upload(a, wrong.apply().encode()))
    course.wait_for(a, first)
    last = sub_id(page_upload(a))  # last on time: the correct one counts, though uploaded after
    course.wait_for(a, last)
    # A TA's batch on B's behalf attaches to the assignment as submitted by the TA for B.
    batch = course.client(headers=ta).post("/api/batches", data={"on_behalf": "true"},
                                           files=[("files", ("B2_resnet50_skeleton.py", wrong.apply())),
                                                  ("files", ("Z9_resnet50_skeleton.py", wrong.apply()))])
    assert batch.status_code == 201, batch.text
    assert any("not on the roster" in w and "Z9" in w for w in batch.json()["warnings"]), batch.json()
    bsub = next(e["id"] for e in batch.json()["submissions"] if e["student_id"] == "B2")
    course.wait_for(course.client(headers=ta), bsub)

    book = {r["student_id"]: r for r in course.client(headers=ta).get("/api/assignments/resnet50/gradebook.json").json()}
    assert set(book) == {"A1", "B2", "C3"}  # one row per roster student
    assert book["A1"]["submission_id"] == last and book["A1"]["final_score"] == 105
    assert book["B2"]["submitted_by"] and book["B2"]["final_score"] == 105 - sum(wrong.lost.values())
    assert book["C3"]["status"] == "missing" and book["C3"]["final_score"] == 0
    assert "submitted by TA" in b.get("/").text

    r = course.client(headers=ta).post(f"/api/submissions/{last}/overrides",
                                       json={"item": "q2_blanks", "points": 20, "comment": "blank 7 read by hand"})
    assert r.status_code == 200 and r.json()["old"] == "25" and r.json()["new"] == "20"
    row = next(r for r in course.client(headers=ta).get("/api/assignments/resnet50/gradebook.json").json()
               if r["student_id"] == "A1")
    assert row["final_score"] == 100 and row["overridden"] == ["q2_blanks"]
    audit = course.client(headers=ta).get("/api/audit", params={"student_id": "A1"}).json()
    assert any(e["action"] == "override" and e["old"] == "25" and e["new"] == "20" for e in audit)
    page = a.get(f"/s/{last}").text
    assert "blank 7 read by hand" in page and 'id="audit"' in page
    canvas = course.client(headers=ta).get("/api/assignments/resnet50/canvas.csv").text.splitlines()
    assert canvas[0].startswith("Student,ID,SIS User ID,SIS Login ID,Section,") and "A1" in canvas[2]

    # A rubric change, then a regrade: the gradebook follows.
    rubric = tmp_path / "rubric.toml"
    text = (REPO / "reference" / "rubric.toml").read_text()
    rubric.write_text(re.sub(r"(\[q1_downsample\][^\[]*?points = )20", r"\g<1>30", text, count=1))
    course.kill(course.workers.pop())
    course.env["AUTOGRADER_RUBRIC"] = str(rubric)
    course.start_worker()
    assert course.client(headers=ta).post(f"/api/submissions/{last}/regrade").status_code == 202
    course.wait_for(course.client(headers=ta), last)
    row = next(r for r in course.client(headers=ta).get("/api/assignments/resnet50/gradebook.json").json()
               if r["student_id"] == "A1")
    assert row["max_score"] == 115 and row["score"] == 110  # 115 - the override's 5 points


def test_a_ta_batch_changes_a_students_record_only_on_her_behalf(course: Service, tmp_path: Path) -> None:
    """The issue's deadline day: a course zip whose A1/ folder holds only notes.txt. Without
    on_behalf it is the TA's check; with it, a rejected row on her record; her 100 stays either way."""
    import zipfile

    links = import_roster(course, tmp_path)
    ta = course.client(headers={"Authorization": f"Bearer {course.token()}"})
    a = signed_in(course, links["A1"])
    hers = sub_id(page_upload(a))
    course.wait_for(a, hers)
    r = ta.post(f"/api/submissions/{hers}/overrides", json={"item": "q1_downsample", "points": 15, "comment": "Q1a"})
    assert r.status_code == 200, r.text

    def final() -> dict:
        return next(r for r in ta.get("/api/assignments/resnet50/gradebook.json").json() if r["student_id"] == "A1")

    assert final()["final_score"] == 100 and final()["submission_id"] == hers
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("A1/notes.txt", "my code is in the mail\n")
    for on_behalf in ("false", "true"):
        r = ta.post("/api/batches", data={"on_behalf": on_behalf}, files={"files": ("course.zip", buf.getvalue())})
        assert r.status_code == 201, r.text
        (row,) = r.json()["submissions"]
        assert row["status"] == "rejected" and row["in_roster"] and row["of_record"] == (on_behalf == "true")
        assert (final()["final_score"], final()["submission_id"], final()["status"]) == (100, hers, "graded")
        mine = a.get("/").text
        assert (row["id"] in mine) == (on_behalf == "true"), on_behalf  # a check is not on her page
    page = a.get(f"/s/{hers}").text  # the override reached her own page too
    assert re.findall(r"(\d+) / (\d+)", re.search(r'id="score">(.*?)</p>', page, re.S).group(1)) == [("100", "105")]


def test_deadline_refuses_or_penalizes_by_policy(course: Service, tmp_path: Path) -> None:
    links = import_roster(course, tmp_path)
    ta = {"Authorization": f"Bearer {course.token()}"}
    a = signed_in(course, links["A1"])
    assert "no deadline set" in a.get("/").text
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)).isoformat()
    cli(course, "assignment", "set", "resnet50", "--deadline", past, "--timezone", "Asia/Seoul")
    page = a.get("/").text
    assert "Asia/Seoul" in page and "the deadline has passed" in page
    r = page_upload(a)
    assert r.status_code == 403 and "late submissions are not accepted" in r.text
    assert 'id="history"' not in a.get("/").text  # nothing was stored
    # An extension moves A's own deadline.
    cli(course, "assignment", "extend", "resnet50", "A1", "--until",
        (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat())
    assert "(your extension)" in a.get("/").text and "left" in a.get("/").text
    on_time = sub_id(page_upload(a))
    # B has no extension: with a per-day penalty, B's upload is accepted, marked late, 10 % off.
    cli(course, "assignment", "set", "resnet50", "--late-policy", "per-day", "--late-penalty", "0.1", "--cutoff",
        (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)).isoformat())
    b = signed_in(course, links["B2"])
    late = sub_id(page_upload(b))
    view = course.wait_for(b, late)
    assert view["late"] and view["late_penalty"] == pytest.approx(0.1)
    assert "Late:" in b.get(f"/s/{late}").text
    course.wait_for(a, on_time)
    book = {r["student_id"]: r for r in course.client(headers=ta).get("/api/assignments/resnet50/gradebook.json").json()}
    assert book["B2"]["late"] and book["B2"]["late_penalty"] == pytest.approx(10.5)
    assert book["B2"]["final_score"] == pytest.approx(94.5) and book["B2"]["score"] == 105
    assert not book["A1"]["late"] and book["A1"]["final_score"] == 105
    # Past the hard cutoff nothing is accepted.
    cli(course, "assignment", "set", "resnet50", "--cutoff", past)
    r = page_upload(b)
    assert r.status_code == 403 and "no more submissions are accepted" in r.text


def test_per_address_limit_stops_link_guessing_and_upload_floods(tmp_path: Path, test_checkpoint: Path) -> None:
    with course_service(tmp_path, test_checkpoint, AUTOGRADER_CLIENT_RATE_PER_MINUTE="4",
                        AUTOGRADER_STUDENT_RATE_PER_HOUR="100", AUTOGRADER_HTTPS="true") as svc:
        links = import_roster(svc, tmp_path)
        with svc.client(headers={"Authorization": f"Bearer {svc.token()}"}) as ta:  # the REST import, as CSV
            r = ta.post("/api/roster", params={"format": "csv"},
                        files={"file": ("r.csv", ROSTER + "D4,Di Cho,di@example.edu\n")})
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert r.status_code == 200 and [row["student_id"] for row in rows] == ["D4"]  # only the new student
        assert rows[0]["link"].startswith(svc.url + "/signin/")
        with svc.client() as c:  # behind HTTPS (AUTOGRADER_HTTPS): the session cookie is Secure too
            cookie = c.get(rows[0]["link"].removeprefix(svc.url), follow_redirects=False).headers["set-cookie"].lower()
        assert "autograder_session=" in cookie and all(f in cookie for f in ("httponly", "samesite=lax", "secure"))
        with svc.client() as guesser:
            codes = [guesser.get(f"/signin/guess{i}").status_code for i in range(4)]
        assert codes == [403, 403, 403, 429], codes  # 4 a minute from this address, the real sign-in included
        with svc.client() as c:  # the same address: the real link waits a minute too
            assert c.get(links["A1"].removeprefix(svc.url)).status_code == 429
