"""A TA's batch over real HTTP: bad zip entries as rejected rows, and the cheap, paged progress poll."""
from __future__ import annotations

import csv
import io
import zipfile

from api.uploads import SKELETON
from grader.rubric import SOLUTION
from tests.api.conftest import Service

GOOD = SOLUTION.read_bytes()


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def test_a_zip_with_bad_entries_grades_the_rest(service: Service) -> None:
    auth = {"Authorization": f"Bearer {service.token()}"}
    course = _zip([(f"good/{SKELETON}", GOOD), (f"empty/{SKELETON}", b""), ("stray/notes.txt", b"sorry"),
                   ("notes.txt", b"for the TA"), (f"twice/{SKELETON}", b"\x00"), (f"twice_{SKELETON}", GOOD)])
    with service.client(headers=auth) as c:
        r = c.post("/api/batches", files={"files": ("course.zip", course, "application/zip")})
        assert r.status_code == 201, r.text
        body = r.json()
        rejected = {x["student_id"]: x["message"] for x in body["rejected"]}
        assert set(rejected) == {"empty", "stray"}
        assert "empty/resnet50_skeleton.py (student empty)" in rejected["empty"]
        assert "stray/notes.txt (student stray)" in rejected["stray"]
        assert any("notes.txt" in w for w in body["warnings"]) and any("twice" in w for w in body["warnings"])
        assert sorted(s["student_id"] for s in body["submissions"]) == ["empty", "good", "stray", "twice"]
        batch = body["batch_id"]
        # Rejected rows are final at once; the good files are queued for grading like any other.
        state = c.get(f"/api/batches/{batch}").json()
        assert state["counts"]["rejected"] == 2 and state["total"] == 4
        rows = {row["student_id"]: row for row in csv.DictReader(io.StringIO(c.get(f"/api/batches/{batch}/gradebook.csv").text))}
        assert rows["good"]["status"] in ("queued", "running", "graded") and rows["twice"]["status"] != "rejected"
        assert rows["empty"]["status"] == "rejected" and "empty/" in rows["empty"]["error"]
        assert float(rows["empty"]["score"]) == 0


def test_batch_progress_is_counts_and_ids_and_pages_on_request(service: Service) -> None:
    auth = {"Authorization": f"Bearer {service.token()}"}
    course = _zip([(f"p{i:02d}/{SKELETON}", GOOD + f"# {i}\n".encode()) for i in range(12)]
                  + [(f"bad{i}/{SKELETON}", b"") for i in range(3)])
    with service.client(headers=auth) as c:
        batch = c.post("/api/batches", files={"files": ("course.zip", course, "application/zip")}).json()["batch_id"]
        poll = c.get(f"/api/batches/{batch}").json()
        assert poll["total"] == 15 and poll["counts"]["rejected"] == 3 and poll["done"] is False
        assert len(poll["submissions"]) == 15 and poll["details"] is None
        assert all(set(s) == {"id", "student_id", "status"} for s in poll["submissions"])  # no reports, no progress
        page = c.get(f"/api/batches/{batch}", params={"offset": 10, "limit": 4, "details": "true"}).json()
        assert page["total"] == 15 and [s["student_id"] for s in page["submissions"]] == ["p07", "p08", "p09", "p10"]
        assert [d["id"] for d in page["details"]] == [s["id"] for s in page["submissions"]]
        assert page["details"][0]["filename"] == SKELETON and "created_at" in page["details"][0]
        assert c.get(f"/api/batches/{batch}", params={"limit": 0}).status_code == 422
