"""A deadline day through the real service, checked against the bench's own gradebook.

Starts its own redis-server (on a free port, so it may restart it), the API (uvicorn) and one
Celery worker, as tests/api/conftest.py does, structure only. N roster students sign in by
their personal links and upload on a curve that crowds towards the deadline (several
resubmissions each, some wrong files from tests/grader/mutations.py, some hostile: a sleeping
import, a crasher that calls os._exit at import); a TA sends a batch on the students' behalf
with a bad entry and one not on the roster, and a batch that is a check only; one student has
an extension; late uploads fall under a per-hour policy, one after the cutoff. Mid-rush the
worker is killed and restarted, then Redis is restarted.

At the end the bench computes the gradebook it expects from its own log of what it sent, with
its own code (the README's record rules; nothing from storage/ or api/), applies one TA
override, and compares every row of the service's gradebook CSV: final submission, status,
score, penalty, override, missing. The one fact it takes from the service is scheduling: which
uploads were superseded (a newer upload of the same student arrived while one was queued), which
depends on when the worker got to them. Time is compressed: the deadline is a few minutes ahead.

    .venv/bin/python -m bench.deadline_day [--students 200] [--window 600] [--seed 1]

Prints the mismatches (goal 0), the p95 upload -> structure verdict during the rush, and the
time from the deadline to the last grade.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench._common import REPO, emit
from bench._service import free_port, percentile
from grader.rubric import SOLUTION
from tests.api.conftest import Service
from tests.grader.mutations import MUTATIONS

MAX_SCORE = 105.0  # structure only: every item but accuracy (10 of 115)
LATE_PENALTY_PER_HOUR = 0.1
# Mutations whose points lost are exact (no accepted alternative, no forward that crashes).
WRONG = ("stride_on_3x3", "layer1_padding_5_0", "missing_block_layer3", "downsample_first_layer3")
SLEEPER = "import time\ntime.sleep(600)  # holds whatever runs the import\n"
CRASHER = "import os\nos._exit(3)  # kills whatever runs the import\n"
GUARD_S = 4.0  # no upload this close to the deadline or the cutoff: the server's clock decides those
FINAL_STATUSES = ("graded", "rejected", "failed", "superseded")
OVERRIDE_ITEM, OVERRIDE_POINTS = "q1_downsample", 15.0
# A slow answer is a figure, not an error: a request waits this long before the bench gives up on it.
REQUEST_TIMEOUT_S = 180.0


# ---------------------------------------------------------------- the plan: who sends what, when

@dataclass
class File:
    kind: str  # reference | a mutation's name | sleeper | crasher | notes
    source: bytes

    @property
    def expected(self) -> tuple[str, float]:
        """(status, score before any penalty) the bench expects, from what it knows of the file."""
        if self.kind == "reference":
            return "graded", MAX_SCORE
        if self.kind in MUTATIONS:
            return "graded", MAX_SCORE - sum(MUTATIONS[self.kind].lost.values())
        return "rejected", 0.0  # hostile or no file: not graded, scores 0


@dataclass
class Planned:
    at: float  # seconds from the deadline (negative: before)
    file: File


@dataclass
class Sent:
    """One line of the bench's log: an upload (or batch entry) and what the service answered."""
    student_id: str
    file: File
    sent_at: float  # time.time() when sent
    on_time: bool  # by the bench's own clock (uploads are kept GUARD_S away from the deadline)
    of_record: bool
    submission_id: str | None  # None: refused (HTTP 403 after the cutoff)
    via: str  # student | batch
    verdict_s: float | None = None  # upload -> structure verdict, when the student saw it
    superseded: bool = False


@dataclass
class Plan:
    students: list[str]
    uploads: dict[str, list[Planned]]
    extension: str  # the student with an extension past the late uploads
    after_cutoff: str  # the student whose last upload comes after the cutoff
    batch_good: str  # a missing student a TA submits for
    batch_bad: str  # a student whose batch entry is a notes.txt (must not replace her final)
    check_only: str  # a student in a batch that is a check only


def _file(kind: str, tag: str) -> File:
    base = SOLUTION.read_text() if kind in ("reference", "sleeper", "crasher") else MUTATIONS[kind].apply()
    prefix = {"sleeper": SLEEPER, "crasher": CRASHER}.get(kind, "")
    return File(kind, f"{prefix}{base}\n# {tag}\n".encode())


def make_plan(n: int, window: float, late_window: float, seed: int) -> Plan:
    """Deterministic for a seed. Upload times: 1 - u**3 of the window before the deadline puts
    most uploads in its last part; students resubmit 1-4 times."""
    rng = random.Random(seed)
    students = [f"s{i:03d}" for i in range(1, n + 1)]
    uploads: dict[str, list[Planned]] = {}
    for i, sid in enumerate(students):
        if i % 10 == 9:
            uploads[sid] = []  # missing
            continue
        k = rng.choice((1, 2, 2, 3, 3, 4))
        times = sorted(-GUARD_S - window * (1 - rng.random()) ** 3 for _ in range(k))
        kinds = [rng.choice((*WRONG, "reference")) for _ in range(k - 1)]
        kinds.append("reference" if rng.random() < 0.7 else rng.choice(WRONG))
        if i % 10 == 3:  # hostile, anywhere in the sequence (last too: it must not replace a graded final)
            kinds[rng.randrange(k)] = "sleeper" if i % 20 == 3 else "crasher"
        plan = [Planned(t, _file(kind, f"{sid} upload {j}")) for j, (t, kind) in enumerate(zip(times, kinds))]
        if i % 10 == 7:  # late under the per-hour policy
            late = Planned(rng.uniform(GUARD_S, late_window - GUARD_S), _file(rng.choice(("reference", *WRONG)),
                                                                              f"{sid} late"))
            plan = [late] if i % 20 == 7 else [*plan, late]  # late only: its penalty counts
        uploads[sid] = plan
    extension, after_cutoff = students[1], students[5 % n]
    uploads[extension] = [*uploads[extension], Planned(late_window / 2, _file("reference", f"{extension} extended"))]
    uploads[after_cutoff] = [*uploads[after_cutoff], Planned(late_window + GUARD_S, _file("reference", "too late"))]
    missing = [s for s in students if not uploads[s]]
    graded_ones = [s for s in students if s not in (extension, after_cutoff) and uploads[s]
                   and all(p.at < 0 for p in uploads[s])]
    return Plan(students, uploads, extension, after_cutoff, batch_good=missing[0], batch_bad=graded_ones[0],
                check_only=graded_ones[1])


# ---------------------------------------------------------------- the bench's own gradebook

@dataclass
class Expected:
    status: str
    submission_id: str
    final_score: float
    late_penalty: float
    overridden: str


def expected_gradebook(plan: Plan, log: list[Sent], overrides: dict[str, tuple[str, float]],
                       item_points: dict[str, float], deadline: float) -> dict[str, Expected]:
    """The README's record rules, on the bench's log: graded beats rejected, last on time wins,
    a late file counts only without an on-time graded one (then its per-hour penalty is off)."""
    book: dict[str, Expected] = {}
    for sid in plan.students:
        mine = [s for s in log if s.student_id == sid and s.of_record and s.submission_id and not s.superseded]
        graded = [s for s in mine if s.file.expected[0] == "graded"]
        pool = graded or mine
        if not pool:
            book[sid] = Expected("missing", "", 0.0, 0.0, "")
            continue
        on_time = [s for s in pool if s.on_time]
        final = max(on_time or pool, key=lambda s: s.sent_at)
        status, score = final.file.expected
        over = overrides.get(final.submission_id or "")
        if over:
            item, points = over
            score += points - item_points[item]
        fraction = 0.0
        if not final.on_time and not (sid == plan.extension):
            fraction = min(1.0, math.ceil((final.sent_at - deadline) / 3600) * LATE_PENALTY_PER_HOUR)
        penalty = round(min(score, fraction * MAX_SCORE), 4)
        book[sid] = Expected(status, final.submission_id or "", round(score - penalty, 4), penalty,
                             over[0] if over else "")
    return book


def unexplained_supersedes(log: list[Sent]) -> list[str]:
    """The one fact taken from the service, checked: an upload may be superseded only by a newer
    one of the same student (her own, or a TA's on her behalf)."""
    out = []
    for s in log:
        if s.superseded and not any(o.student_id == s.student_id and o.of_record and o.submission_id
                                    and o.sent_at > s.sent_at for o in log):
            out.append(f"{s.student_id}: {s.submission_id} superseded with no newer upload")
    return out


def compare(expected: dict[str, Expected], csv_text: str) -> list[str]:
    """Every row, every field the record rules decide; one line per difference."""
    rows = {r["student_id"]: r for r in csv.DictReader(io.StringIO(csv_text))}
    out = [f"{sid}: not in the service's gradebook" for sid in expected if sid not in rows]
    out += [f"{sid}: in the service's gradebook, not on the roster" for sid in rows if sid not in expected]
    for sid, want in expected.items():
        got = rows.get(sid)
        if got is None:
            continue
        pairs = [("status", want.status, got["status"]), ("submission_id", want.submission_id, got["submission_id"]),
                 ("final_score", want.final_score, float(got["final_score"] or 0)),
                 ("late_penalty", want.late_penalty, float(got["late_penalty"] or 0)),
                 ("overridden", want.overridden, got["overridden"]),
                 ("max_score", MAX_SCORE, float(got["max_score"] or "nan"))]
        for name, w, g in pairs:
            if (abs(w - g) > 1e-6) if isinstance(w, float) else w != g:
                out.append(f"{sid}: {name} expected {w!r}, service says {g!r}")
    return out


# ---------------------------------------------------------------- the service, with its own Redis

class Redis:
    """A redis-server of the bench's own (append-only, in the run's folder), so it may restart it."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                      str(self.folder), "--appendonly", "yes", "--appendfsync", "everysec",
                                      "--save", ""], stdout=(self.folder / "redis.log").open("ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() != b"PONG":
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start: " + (self.folder / "redis.log").read_text()[-1000:])
            time.sleep(0.1)

    def stop(self) -> None:
        """SHUTDOWN: the append-only file is flushed first, as a clean restart of the host's Redis would."""
        if self.proc and self.proc.poll() is None:
            subprocess.run(["redis-cli", "-p", str(self.port), "shutdown"], capture_output=True)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_service(var: Path, redis: Redis) -> Service:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOGRADER_")}
    env.update({"PYTHONPATH": str(REPO), "AUTOGRADER_VAR_DIR": str(var), "AUTOGRADER_SKIP_TRAINING": "true",
                "AUTOGRADER_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
                # Every student comes from 127.0.0.1 here: the per-address limit would count a class as one.
                "AUTOGRADER_CLIENT_RATE_PER_MINUTE": "1000000", "AUTOGRADER_STUDENT_RATE_PER_HOUR": "1000",
                "AUTOGRADER_LIVE_STREAMS_PER_CLIENT": "1000000",
                "AUTOGRADER_IMPORT_TIMEOUT_S": "5", "AUTOGRADER_CHECK_TIMEOUT_S": "60",
                "AUTOGRADER_HEARTBEAT_TIMEOUT_S": "10", "AUTOGRADER_RECOVERY_INTERVAL_S": "2",
                "AUTOGRADER_RESEND_AFTER_S": "20", "AUTOGRADER_THREADS": "1"})
    svc = Service(var_dir=var, env=env, port=free_port())
    svc.start_api()
    svc.start_worker("deadline")
    return svc


def warm_up(svc: Service, timeout: float = 600.0) -> None:
    """One self-check grade before the roster exists (it joins no gradebook): the worker's
    sandboxes have imported torch when the day starts, as on a service that ran before it."""
    with svc.client() as c:
        sid = c.post("/api/submissions", data={"student_id": "warm-up"},
                     files={"file": ("resnet50_skeleton.py", SOLUTION.read_bytes())}).json()["id"]
        end = time.monotonic() + timeout
        while c.get(f"/api/submissions/{sid}").json()["status"] not in FINAL_STATUSES:
            if time.monotonic() > end:
                raise RuntimeError(f"the warm-up grade did not finish in {timeout:.0f} s")
            time.sleep(0.5)


def cli(svc: Service, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=REPO, env=svc.env, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise RuntimeError(f"autograder {' '.join(args)}: {out.stderr}")
    return out.stdout


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat()


# ---------------------------------------------------------------- the day

@dataclass
class Day:
    svc: Service
    plan: Plan
    deadline: float
    log: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    errors: list[str] = field(default_factory=list)

    def record(self, sent: Sent) -> None:
        with self.lock:
            self.log.append(sent)


def student(day: Day, sid: str, link: str) -> None:
    """Sign in by the link, then each planned upload at its time; each upload's result page is
    watched as a browser does (its event stream), beside the next uploads."""
    watchers: list[threading.Thread] = []
    with day.svc.client(follow_redirects=True, timeout=REQUEST_TIMEOUT_S) as c:
        try:
            r = c.get(link.removeprefix(day.svc.url))
            if r.status_code != 200:
                raise RuntimeError(f"sign-in answered {r.status_code}")
            # The form's token, fetched once: at the planned time only the upload itself is sent,
            # so a slow page cannot push a planned on-time upload past the deadline.
            token = re.search(r'name="csrftoken" value="([^"]+)"', c.get("/").text).group(1)
            for p in day.plan.uploads[sid]:
                _sleep_until(day.deadline + p.at)
                sent_at = time.time()
                r = c.post("/submit", data={"csrftoken": token}, follow_redirects=False,
                           files={"file": ("resnet50_skeleton.py", p.file.source, "text/x-python")})
                answered_at = time.time()
                on_time = p.at < 0 or sid == day.plan.extension
                if p.at < 0 and answered_at >= day.deadline:
                    # Sent on time by the bench's clock, answered after the deadline: which side of it
                    # the service put the upload on is its own clock's call; the row cannot be judged.
                    with day.lock:
                        day.errors.append(f"{sid}: an upload sent {day.deadline - sent_at:.1f} s before the "
                                          f"deadline was answered {answered_at - day.deadline:.1f} s after it")
                if r.status_code == 403:
                    day.record(Sent(sid, p.file, sent_at, on_time, True, None, "student"))
                    continue
                if r.status_code != 303:
                    raise RuntimeError(f"upload answered {r.status_code}: {r.text[:300]}")
                sent = Sent(sid, p.file, sent_at, on_time, True, r.headers["location"].removeprefix("/s/"), "student")
                day.record(sent)
                w = threading.Thread(target=watch, args=(day, c, sent), daemon=True)
                w.start()
                watchers.append(w)
        except Exception as exc:  # noqa: BLE001 - one student's failure is reported, the day goes on
            with day.lock:
                day.errors.append(f"{sid}: {exc!r}")
        for w in watchers:
            w.join()


def watch(day: Day, c: httpx.Client, sent: Sent, limit_s: float = 600.0) -> None:
    """Read the result page's event stream (`/s/ID/events`, what its JavaScript reads) until the
    structure verdict or a final status: the time from the upload to it is the verdict latency.
    A dropped stream is reopened, as the page's EventSource does."""
    end = sent.sent_at + limit_s
    while time.time() < end:
        try:
            with c.stream("GET", f"/s/{sent.submission_id}/events") as r:
                if r.status_code != 200:
                    raise RuntimeError(f"event stream answered {r.status_code}")
                for line in r.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    view = json.loads(line.removeprefix("data: "))
                    if view.get("has_structure") or view["status"] in FINAL_STATUSES:
                        if view["status"] != "superseded":
                            sent.verdict_s = time.time() - sent.sent_at
                        return
        except (httpx.HTTPError, RuntimeError) as exc:
            if time.time() >= end:
                with day.lock:
                    day.errors.append(f"{sent.student_id}: watching {sent.submission_id}: {exc!r}")
                return
            time.sleep(1.0)


def _sleep_until(t: float) -> None:
    while (left := t - time.time()) > 0:
        time.sleep(min(left, 1.0))


def batches(day: Day, ta: httpx.Client) -> None:
    """A TA's batch on the students' behalf (a good file, a notes.txt, an ID not on the roster),
    then one that is a check only: neither bad entry nor check may touch a gradebook row."""
    plan = day.plan
    good, bad = _file("reference", f"{plan.batch_good} by TA"), File("notes", b"my code is in the mail\n")
    check = _file(WRONG[0], f"{plan.check_only} check")
    for on_behalf, entries in (("true", [(plan.batch_good, "resnet50_skeleton.py", good),
                                         (plan.batch_bad, "notes.txt", bad),
                                         ("Z999", "resnet50_skeleton.py", good)]),
                               ("false", [(plan.check_only, "resnet50_skeleton.py", check)])):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for sid, name, f in entries:
                z.writestr(f"{sid}/{name}", f.source)
        sent_at = time.time()
        r = ta.post("/api/batches", data={"on_behalf": on_behalf}, files={"files": ("course.zip", buf.getvalue())})
        if r.status_code != 201:
            day.errors.append(f"batch answered {r.status_code}: {r.text[:300]}")
            continue
        by_student = {e["student_id"]: e["id"] for e in r.json()["submissions"]}
        for sid, _, f in entries:
            if sid in plan.students:
                day.record(Sent(sid, f, sent_at, True, on_behalf == "true", by_student.get(sid), "batch"))


def faults(day: Day, redis: Redis, window: float, out: dict[str, float]) -> None:
    """Mid-rush: the worker killed (SIGKILL, its group) and restarted; later Redis restarted."""
    _sleep_until(day.deadline - 0.35 * window)
    day.svc.kill(day.svc.workers[-1])
    out["worker_killed_at"] = time.time() - day.deadline
    time.sleep(2)
    day.svc.start_worker("deadline")
    _sleep_until(day.deadline - 0.2 * window)
    redis.stop()
    out["redis_restarted_at"] = time.time() - day.deadline
    time.sleep(1)
    redis.start()


def drain(ta: httpx.Client, log: list[Sent], timeout: float) -> float:
    """Wait until no logged submission is queued or running; returns when that was seen."""
    ids = [s.submission_id for s in log if s.submission_id]
    end = time.monotonic() + timeout
    left = list(ids)
    while left and time.monotonic() < end:
        left = [i for i in left if ta.get(f"/api/submissions/{i}").json()["status"] not in FINAL_STATUSES]
        if left:
            time.sleep(1.0)
    if left:
        raise RuntimeError(f"{len(left)} submissions still waiting after {timeout:.0f} s, e.g. {left[:3]}")
    return time.time()


def run(n: int, window: float, late_window: float, seed: int, drain_timeout: float) -> dict:
    plan = make_plan(n, window, late_window, seed)
    rubric = tomllib.loads((REPO / "reference" / "rubric.toml").read_text())
    item_points = {OVERRIDE_ITEM: float(rubric[OVERRIDE_ITEM]["points"])}
    with tempfile.TemporaryDirectory(prefix="bench-deadline-") as tmp:
        var = Path(tmp) / "var"
        var.mkdir()
        redis = Redis(Path(tmp) / "redis")
        redis.start()
        svc = start_service(var, redis)
        try:
            warm_up(svc)
            roster = Path(tmp) / "roster.csv"
            roster.write_text("student_id,name,email\n" + "".join(f"{s},Student {s},{s}@example.edu\n"
                                                                  for s in plan.students))
            out = cli(svc, "roster", "import", str(roster), "--base-url", svc.url)
            links = {r["student_id"]: r["link"] for r in csv.DictReader(io.StringIO(out[out.index("student_id"):]))}
            lead = max(10.0, 0.15 * n)  # sign-in of every student before the first upload
            deadline = time.time() + lead + window + GUARD_S
            cli(svc, "assignment", "set", "resnet50", "--deadline", iso(deadline), "--timezone", "Asia/Seoul",
                "--late-policy", "per-hour", "--late-penalty", str(LATE_PENALTY_PER_HOUR),
                "--cutoff", iso(deadline + late_window), "--final-rule", "last-on-time")
            ta = svc.client(headers={"Authorization": f"Bearer {svc.token()}"}, timeout=REQUEST_TIMEOUT_S)
            r = ta.put(f"/api/assignments/resnet50/extensions/{plan.extension}",
                       json={"until": iso(deadline + late_window * 2)})
            if r.status_code != 200:
                raise RuntimeError(f"extension: {r.status_code} {r.text}")
            day = Day(svc, plan, deadline)
            figures: dict[str, float] = {}
            threads = [threading.Thread(target=student, args=(day, s, links[s]), daemon=True) for s in plan.students]
            threads.append(threading.Thread(target=faults, args=(day, redis, window, figures), daemon=True))
            for t in threads:
                t.start()
            _sleep_until(deadline - 0.4 * window)
            batches(day, ta)
            for t in threads:
                t.join()
            last_grade = drain(ta, day.log, drain_timeout)
            for s in day.log:  # the one fact taken from the service: which uploads were superseded
                if s.submission_id:
                    s.superseded = ta.get(f"/api/submissions/{s.submission_id}").json()["status"] == "superseded"
            # A TA override on a student whose final (by the bench's own rules) is a reference file.
            book = expected_gradebook(plan, day.log, {}, item_points, deadline)
            target = next(sid for sid, e in book.items() if e.status == "graded" and e.final_score == MAX_SCORE)
            r = ta.post(f"/api/submissions/{book[target].submission_id}/overrides",
                        json={"item": OVERRIDE_ITEM, "points": OVERRIDE_POINTS, "comment": "deadline-day bench"})
            if r.status_code != 200:
                day.errors.append(f"override: {r.status_code} {r.text[:300]}")
            overrides = {book[target].submission_id: (OVERRIDE_ITEM, OVERRIDE_POINTS)}
            expected = expected_gradebook(plan, day.log, overrides, item_points, deadline)
            got = ta.get("/api/assignments/resnet50/gradebook.csv")
            mismatches = compare(expected, got.text) + unexplained_supersedes(day.log) + day.errors
            rush = [s.verdict_s for s in day.log if s.via == "student" and s.verdict_s is not None
                    and -window <= s.sent_at - deadline < 0]
            return {"students": n, "uploads": sum(1 for s in day.log if s.via == "student"),
                    "refused": sum(1 for s in day.log if s.submission_id is None),
                    "superseded": sum(1 for s in day.log if s.superseded), "mismatches": mismatches,
                    "verdicts_in_rush": len(rush), "p95_verdict_s": percentile(rush, 95) if rush else float("nan"),
                    "p50_verdict_s": percentile(rush, 50) if rush else float("nan"),
                    "deadline_to_last_grade_s": last_grade - deadline, **figures}
        finally:
            svc.stop()
            redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--window", type=float, default=None,
                        help="seconds of uploads before the deadline (default: 3 per student, 90 to 600)")
    parser.add_argument("--late-window", type=float, default=40.0, help="seconds from the deadline to the cutoff")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=1800.0)
    args = parser.parse_args()
    window = args.window or min(600.0, max(90.0, 3.0 * args.students))
    result = run(args.students, window, args.late_window, args.seed, args.drain_timeout)
    for line in result["mismatches"]:
        print("MISMATCH", line)
    print(f"{result['students']} students, {result['uploads']} uploads ({result['refused']} refused, "
          f"{result['superseded']} superseded): {len(result['mismatches'])} mismatches; upload -> structure "
          f"verdict in the rush p50 {result['p50_verdict_s']:.2f} s, p95 {result['p95_verdict_s']:.2f} s "
          f"(n = {result['verdicts_in_rush']}); deadline -> last grade {result['deadline_to_last_grade_s']:.1f} s")
    emit("deadline_day", {k: (len(v) if k == "mismatches" else v) for k, v in result.items()})


if __name__ == "__main__":
    main()
