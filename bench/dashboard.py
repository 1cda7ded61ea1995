"""The TA dashboard with a class of 500 graded submissions: server time of the overview and the
table, and the similarity report's time (issue 14 goals: < 300 ms each, < 30 s).

The class: 500 roster students, each with one graded final submission (plus a superseded
upload for every fifth, a few late, a few rejected, a few queued), stored through the same
storage functions the service uses, in SQLite on disk. Reports are real: the programs
of bench.class_time's class of 40 (the reference, the common mistakes, broken files) are
graded structure-only by the engine, once each (a cosmetic variant of the reference shares
its report), and student i gets report i mod 40; accuracies are
drawn around 80 % (nothing is fine-tuned: this measures the pages, not the grader). The
files stored are bench.similarity's class of 500 (independent styles and planted copies), so
the similarity report has realistic input; a report and the file beside it need not match.

Pages are requested in-process through the real app (starlette's TestClient, a TA signed in
through the sign-in form): the time is the server's, with no network in between. Each page
is fetched once to warm up and then `--repeat` times; the median and the maximum are printed.

    .venv/bin/python -m bench.dashboard              # 500 students
    .venv/bin/python -m bench.dashboard --n 60       # smaller
    .venv/bin/python -m bench.dashboard --smoke      # 30 students, 3 programs graded (CI)
"""
from __future__ import annotations

import argparse
import hashlib
import random
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch

from bench._common import emit, grade_threads, machine_label
from grader.report import Report

PAGE_GOAL_MS = 300.0
SIMILARITY_GOAL_S = 30.0
PASSWORD = "bench-password-1234"


@dataclass
class Seeded:
    """One upload to store: whose, which file, and its grade (None: still queued)."""

    student_id: str
    name: str
    source: str
    report: Report | None
    accuracy: float | None = None
    late_s: float | None = None


def grade_sources(sources: dict[str, str], checkpoint: Path, threads: int = 2) -> dict[str, Report]:
    """Structure-only grades of distinct files by the real engine (sandboxed, as a worker does)."""
    from grader.engine import GradeConfig, grade_bytes

    config = GradeConfig(checkpoint=checkpoint, threads=threads, skip_training=True)
    return {key: grade_bytes(src.encode(), filename="resnet50_skeleton.py", config=config)
            for key, src in sources.items()}


def seed(db_url: str, uploads: list[Seeded], *, assignment: str | None = None) -> dict[str, str]:
    """Store the roster and the uploads in order (later uploads of a student supersede queued
    ones, as in the service); returns student id -> their last upload's id."""
    from storage import course
    from storage.db import session_scope
    from storage.service import claim, finish, record_submission

    last: dict[str, str] = {}
    with session_scope(db_url) as s:
        a = course.default_assignment(s, name=assignment)
        seen: dict[str, str] = {}
        for u in uploads:
            seen.setdefault(u.student_id, u.name)
        course.import_roster(s, rows=[{"student_id": k, "name": v, "email": f"{k}@example.edu"} for k, v in seen.items()])
        for u in uploads:
            student = course.get_student(s, student_id=u.student_id)
            data = u.source.encode()
            sub = record_submission(s, student_id=u.student_id, filename="resnet50_skeleton.py", data=data,
                                    sha256=hashlib.sha256(data).hexdigest(), skip_training=False,
                                    assignment_id=a.id, student_pk=student.id, late_s=u.late_s,
                                    late_penalty=0.1 if u.late_s else 0.0)
            last[u.student_id] = sub.id
            if u.report is None:
                continue
            claim(s, sub.id, "bench", 60.0)
            finish(s, sub.id, "bench", status=u.report.status, report_json=u.report.model_dump_json(),
                   score=u.report.score, max_score=u.report.max_score,
                   accuracy=u.accuracy if u.report.status == "graded" else None)
    return last


def make_uploads(n: int, reports: list[Report], *, seed_value: int = 5) -> list[Seeded]:
    """n students with bench.similarity's files and the given reports in turn (see the module doc)."""
    from bench.similarity import make_class

    rng = random.Random(seed_value)
    files = make_class(n, seed=seed_value).students
    out = []
    for i, f in enumerate(files):
        sid, name = f"s{i:04d}", f"Student {i}"
        report = reports[i % len(reports)]
        if i % 5 == 0:  # an earlier upload, graded then replaced by the final one
            out.append(Seeded(sid, name, f.source + "\n# first try\n", reports[(i + 1) % len(reports)],
                              accuracy=round(rng.uniform(0.5, 0.8), 4)))
        late = 3600.0 * rng.uniform(0.1, 5) if i % 17 == 0 else None
        out.append(Seeded(sid, name, f.source, None if i % 50 == 7 else report,
                          accuracy=round(min(max(rng.gauss(0.80, 0.04), 0.1), 0.95), 4), late_s=late))
    return out


def signed_in_client(app, db_url: str):  # noqa: ANN001, ANN201 - a FastAPI app; a TestClient
    """A TestClient with a TA signed in through the sign-in form (CSRF token and all)."""
    from fastapi.testclient import TestClient

    from storage.db import session_scope
    from storage.ta_accounts import create_ta_account

    with session_scope(db_url) as s:
        create_ta_account(s, name="bench", password=PASSWORD)
    client = TestClient(app)
    token = re.search(r'name="csrftoken" value="([^"]+)"', client.get("/ta/signin").text).group(1)
    r = client.post("/ta/signin", data={"csrftoken": token, "name": "bench", "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    return client


def time_page(client, path: str, repeat: int) -> dict[str, float]:  # noqa: ANN001 - a TestClient
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1), "bytes": len(r.content)}


SMOKE_PROGRAMS = ("reference", "stride_on_3x3", "syntax_error")


def run(n: int, *, repeat: int = 5, work: Path, threads: int = 2, smoke: bool = False) -> dict[str, object]:
    from api.main import create_app
    from api.similarity_view import computed
    from bench.class_time import make_class
    from grader.expected import load_reference
    from grader.rubric import SOLUTION
    from service.settings import ServiceSettings
    from storage import course
    from storage.db import session_scope

    torch.manual_seed(7)
    checkpoint = work / "ckpt.pt"
    torch.save(load_reference().ResNet50_layer4().state_dict(), checkpoint)
    # One grade per program: the correct files (the reference and its cosmetic variants, one
    # program) share the reference's report, each mistake and each broken file has its own.
    cls = make_class(40)
    key = {s.name: "reference" if s.kind == "correct" else s.what for s in cls}
    programs = {"reference": SOLUTION.read_text()} | {key[s.name]: s.source for s in cls if s.kind != "correct"}
    if smoke:
        cls = [s for s in cls if key[s.name] in SMOKE_PROGRAMS]
        programs = {k: v for k, v in programs.items() if k in SMOKE_PROGRAMS}
    started = time.perf_counter()
    graded = grade_sources(programs, checkpoint, threads)
    grading_s = time.perf_counter() - started
    reports = [graded[key[s.name]] for s in cls]

    settings = ServiceSettings(var_dir=work / "var", skip_training=False, checkpoint=checkpoint)
    db_url = settings.resolved_database_url()
    app = create_app(settings)
    started = time.perf_counter()
    uploads = make_uploads(n, reports)
    seed(db_url, uploads)
    seeding_s = time.perf_counter() - started
    client = signed_in_client(app, db_url)
    pages = {"overview": time_page(client, "/ta", repeat),
             "table": time_page(client, "/ta/submissions", repeat),
             "table_filtered": time_page(client, "/ta/submissions?item=q1_downsample&final=1&sort=score", repeat)}
    with session_scope(db_url) as s:
        a = course.default_assignment(s, name=None)
        started = time.perf_counter()
        report = computed(SimpleNamespace(), s, settings, a).report
        similarity_s = time.perf_counter() - started
    return {"students": n, "uploads": len(uploads), "distinct_graded": len(graded), "grading_s": round(grading_s, 1),
            "seeding_s": round(seeding_s, 1), "pages": pages, "similarity_s": round(similarity_s, 2),
            "pairs_flagged": len(report.pairs), "clusters": len(report.clusters)}


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="students, each with a final submission")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=grade_threads())
    parser.add_argument("--smoke", action="store_true", help="30 students, 3 programs: a quick check that it runs")
    args = parser.parse_args(argv)
    n, repeat = (30, 2) if args.smoke else (args.n, args.repeat)
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        figures = run(n, repeat=repeat, work=Path(tmp), threads=args.threads, smoke=args.smoke)
    print(f"TA dashboard: {figures['students']} students, {figures['uploads']} uploads, on {machine_label('cpu')}")
    print(f"  graded {figures['distinct_graded']} distinct files in {figures['grading_s']} s; seeded in {figures['seeding_s']} s")
    for name, f in figures["pages"].items():  # type: ignore[union-attr]
        verdict = "met" if f["median_ms"] < PAGE_GOAL_MS else "MISSED"
        print(f"  {name:15s} median {f['median_ms']:7.1f} ms  max {f['max_ms']:7.1f} ms  {f['bytes']:8d} bytes  "
              f"(goal < {PAGE_GOAL_MS:.0f} ms: {verdict})")
    verdict = "met" if figures["similarity_s"] < SIMILARITY_GOAL_S else "MISSED"
    print(f"  similarity     {figures['similarity_s']:.2f} s, {figures['pairs_flagged']} pairs, "
          f"{figures['clusters']} clusters (goal < {SIMILARITY_GOAL_S:.0f} s: {verdict})")
    emit("dashboard", {"page_goal_ms": PAGE_GOAL_MS, **figures})
    return figures


if __name__ == "__main__":
    main()
