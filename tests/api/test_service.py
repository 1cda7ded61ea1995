"""The service end to end: real HTTP, Redis, Celery workers, SQLite on disk."""
from __future__ import annotations

import csv
import io
import sqlite3
import time
import zipfile
from pathlib import Path

import httpx

from grader.rubric import SOLUTION
from tests.api.conftest import Service, make_service
from tests.grader.mutations import MUTATIONS

REFERENCE = SOLUTION.read_bytes()


def upload(client: httpx.Client, student: str, data: bytes, name: str = "resnet50_skeleton.py") -> httpx.Response:
    return client.post("/api/submissions", data={"student_id": student}, files={"file": (name, data, "text/x-python")})


def count_rows(svc: Service) -> int:
    with sqlite3.connect(svc.var_dir / "autograder.sqlite") as db:
        return db.execute("select count(*) from submissions").fetchone()[0]


def stored_files(svc: Service) -> int:
    return sum(1 for _ in (svc.var_dir / "files").rglob("*.py")) if (svc.var_dir / "files").exists() else 0


def test_student_upload_form_to_result_page(service: Service) -> None:
    with service.client(follow_redirects=False) as c:
        r = c.post("/submit", data={"student_id": "2021320322"},
                   files={"file": ("resnet50_skeleton.py", REFERENCE, "text/x-python")})
        assert r.status_code == 303 and r.headers["location"].startswith("/s/")
        sid = r.headers["location"].removeprefix("/s/")
        assert len(sid) >= 24  # unguessable
        view = service.wait_for(c, sid)
        assert view["status"] == "graded" and view["score"] == 105
        page = c.get(f"/s/{sid}").text
        assert "105 / 105" in page and "first mismatch" not in page and "2021320322" in page
        events = c.get(f"/s/{sid}/events").text  # a finished grade: one event, then the stream ends
        assert events.startswith("data: ") and '"status": "graded"' in events


def test_same_content_reuses_the_report_unless_regraded(service: Service) -> None:
    token = service.token()
    with service.client() as c:
        first = upload(c, "s1", REFERENCE).json()["id"]
        service.wait_for(c, first)
        second = upload(c, "s2", REFERENCE).json()["id"]
        view = service.wait_for(c, second)
        assert view["report"]["submission"]["student_id"] == "s2" and view["score"] == 105
        assert "reused the report" in "".join(p.read_text() for p in service.logs)
        r = c.post(f"/api/submissions/{second}/regrade", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 202
        again = service.wait_for(c, second)
        assert again["score"] == 105
        with sqlite3.connect(service.var_dir / "autograder.sqlite") as db:
            assert db.execute("select attempts from submissions where id=?", (second,)).fetchone()[0] == 2


def test_ta_batch_of_20_gives_a_correct_gradebook(service: Service) -> None:
    token = service.token()
    names = sorted(MUTATIONS)
    expected: dict[str, float] = {}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(20):
            student = f"20213203{i:02d}"
            if i < len(names):
                source, lost = MUTATIONS[names[i]].apply(), sum(MUTATIONS[names[i]].lost.values())
            else:
                source, lost = SOLUTION.read_text() + f"\n# copy {i}\n", 0
            expected[student] = 105 - lost
            z.writestr(f"{student}/resnet50_skeleton.py" if i % 2 else f"{student}_resnet50_skeleton.py", source)
    auth = {"Authorization": f"Bearer {token}"}
    with service.client(headers=auth) as c:
        r = c.post("/api/batches", files={"files": ("course.zip", buf.getvalue(), "application/zip")},
                   data={"name": "assignment 2"})
        assert r.status_code == 201, r.text
        batch = r.json()["batch_id"]
        assert len(r.json()["submissions"]) == 20
        deadline = time.monotonic() + 600
        while not (state := c.get(f"/api/batches/{batch}").json())["done"]:
            assert time.monotonic() < deadline, state["counts"]
            time.sleep(1)
        rows = list(csv.DictReader(io.StringIO(c.get(f"/api/batches/{batch}/gradebook.csv").text)))
        assert {row["student_id"]: float(row["score"]) for row in rows} == expected
        assert all(row["status"] == "graded" and row["max_score"] == "105" for row in rows)
        sid = state["submissions"][0]["id"]
        gs = c.get(f"/api/submissions/{sid}/gradescope.json").json()
        assert gs["score"] == sum(t["score"] for t in gs["tests"])
        pl = c.get(f"/api/submissions/{sid}/prairielearn.json").json()
        assert pl["gradable"] is True and 0 <= pl["score"] <= 1
        assert len(c.get(f"/api/batches/{batch}/reports.json").json()) == 20


def _zip(entries: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            z.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_bad_uploads_get_4xx_and_leave_no_trace(service: Service) -> None:
    token = service.token()
    auth = {"Authorization": f"Bearer {token}"}
    with service.client() as c:
        before_rows, before_files = count_rows(service), stored_files(service)
        cases = [
            (upload(c, "bad-uploads", b""), 422, "empty"),
            (upload(c, "bad-uploads", b"\x00\x01binary\xff"), 422, "binary"),
            (upload(c, "bad-uploads", b"#" * (10 << 20)), 413, "KiB"),
            (upload(c, "bad-uploads", "x = 'é'".encode("latin-1")), 422, "UTF-8"),
            (upload(c, "bad-uploads", REFERENCE, name="model.zip"), 415, ".py"),
            (upload(c, "../../etc", REFERENCE), 400, "student ID"),
            (c.post("/api/batches", files={"files": ("a.zip", _zip({"../../evil/resnet50_skeleton.py": REFERENCE}), "application/zip")}, headers=auth), 422, "outside"),
            (c.post("/api/batches", files={"files": ("a.zip", _zip({}, symlink="s1/resnet50_skeleton.py"), "application/zip")}, headers=auth), 422, "link"),
            (c.post("/api/batches", files={"files": ("bomb.zip", _zip({f"s{i}/resnet50_skeleton.py": b"#" * (200 << 10) for i in range(400)}), "application/zip")}, headers=auth), 413, "MiB"),
            (c.post("/api/batches", files={"files": ("a.zip", b"PK\x03\x04 not a zip", "application/zip")}, headers=auth), 422, "zip"),
            (c.post("/api/batches", files={"files": ("a.zip", _zip({"s1/resnet50_skeleton.py": REFERENCE}), "application/zip")}), 401, "token"),
            (c.post("/api/batches", files={"files": ("a.zip", _zip({"s1/resnet50_skeleton.py": REFERENCE}), "application/zip")}, headers={"Authorization": "Bearer wrong"}), 403, "not valid"),
            (c.get("/api/submissions/AAAAAAAAAAAAAAAAAAAAAAAA"), 404, "No submission"),
            # a page's address: JSON for a script that asks for it (a browser gets a page: test_error_pages)
            (c.get("/s/AAAAAAAAAAAAAAAAAAAAAAAA", headers={"Accept": "application/json"}), 404, "No submission"),
            (c.get("/api/batches/nope", headers=auth), 404, "No batch"),
        ]
        for response, status, words in cases:
            assert response.status_code == status, (words, response.status_code, response.text[:300])
            assert words in response.json()["detail"], (words, response.text[:300])
        assert count_rows(service) == before_rows and stored_files(service) == before_files


def test_rate_limit_per_student(service: Service) -> None:
    with service.client() as c:
        codes = [upload(c, "busy", REFERENCE + f"\n# {i}\n".encode()).status_code for i in range(6)]
    assert codes == [202] * 5 + [429]


def test_embedded_broker_needs_no_server(tmp_path: Path, test_checkpoint: Path) -> None:
    svc = make_service(tmp_path, test_checkpoint, broker="embedded")
    try:
        svc.start_api()
        svc.start_worker()
        with svc.client() as c:
            sid = upload(c, "solo", REFERENCE).json()["id"]
            view = svc.wait_for(c, sid)
        assert view["score"] == 105 and (svc.var_dir / "broker.sqlite").exists()
    finally:
        svc.stop()
