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
