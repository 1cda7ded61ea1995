"""A whole class graded in full: shared fine-tunes against the sum of solo grades (issue 12).

A class of files with a realistic mix: mostly correct (the reference, and copies that differ
only in ways that cannot change the function: comments, blank lines, renamed locals,
`super().__init__()`, keyword arguments), the common mistakes of tests/grader/mutations.py
several times each, and a few broken files (a syntax error, no ResNet50_layer4, a forward
that crashes). The class is graded in one process, sequentially, with one cache folder, on
the real CIFAR-10 subset, as a worker grades a batch: identical verified programs share one
fine-tune. Then each distinct file content is graded alone with a fresh, empty cache folder
(its solo grade); a file identical to another runs the same deterministic computation, so
the solo sum counts that one measurement once per file. `--solo program` grades one file per
distinct verified program instead (fewer solo grades, for a loaded machine).

Prints the number of files, fine-tunes run (cache entries written, the reference's own
included), distinct verified programs, class wall time, solo sum, their ratio (goal
<= 0.35), and each file whose accuracy differs from its solo grade's (exit 1 if any).

    .venv/bin/python -m bench.class_time                          # 40 files, 5 170 train images
    .venv/bin/python -m bench.class_time --train-images 1000      # reduced: minutes per fine-tune
    .venv/bin/python -m bench.class_time --smoke                  # 7 files, 200 images (~20 min
                                                                  #   on 2 loaded cores: no test runs it)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import types
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from bench._common import SUBSET, emit, machine_label
from grader import forkserver, prestart
from grader.data import load_cifar10, save_cifar10_format
from grader.engine import GradeConfig, grade_bytes
from grader.expected import load_reference
from grader.report import Report
from grader.rubric import SOLUTION
from grader.sandbox import Limits
from grader.training import TrainSettings, resolve_device, with_precision
from tests.grader.mutations import MUTATIONS


@dataclass(frozen=True)
class Student:
    name: str
    kind: str  # "correct", "mistake", "broken"
    what: str  # which variant, mistake or breakage
    source: str


# ----------------------------------------------------------------------------- the class


def _sub(source: str, old: str, new: str, count: int = 1) -> str:
    assert source.count(old) >= count, f"edit does not apply: {old!r}"
    return source.replace(old, new, count)


def _comments(s: str) -> str:
    s = "# Homework 3, ResNet-50 on CIFAR-10\n# I filled in the blanks below.\n" + s
    s = _sub(s, "    def forward(self, x):\n", "    def forward(self, x):\n        # main path, then shortcut\n")
    return _sub(s, "        self.fc = nn.Linear", "        # classifier head\n        self.fc = nn.Linear")


def _blank_lines(s: str) -> str:
    s = re.sub(r"\n{3,}", "\n\n", s)  # fewer blank lines
    return _sub(s, "        self.layer2 = nn.Sequential(", "\n\n        self.layer2 = nn.Sequential(")


def _no_shape_comments(s: str) -> str:
    return re.sub(r"  # \(B, [^)]*\)", "", s)


def _renamed_locals(s: str) -> str:
    # Only inside the forward methods: `out` -> `h` (the attribute names stay the skeleton's).
    head, sep, tail = s.partition("    def forward(self, x):")
    return head + sep + re.sub(r"\bout\b", "h", tail)


def _super_py3(s: str) -> str:
    s = _sub(s, "super(ResidualBlock, self).__init__()", "super().__init__()")
    return _sub(s, "super(ResNet50_layer4, self).__init__()", "super().__init__()")


def _keywords(s: str) -> str:
    s = _sub(s, "nn.Conv2d(3, 64, 7, 2, 3)", "nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)")
    return _sub(s, "nn.MaxPool2d(3, 2, 1)", "nn.MaxPool2d(kernel_size=3, stride=2, padding=1)")


def _docstrings(s: str) -> str:
    s = _sub(s, "class ResidualBlock(nn.Module):\n", 'class ResidualBlock(nn.Module):\n    """Bottleneck block."""\n\n')
    return _sub(s, "class ResNet50_layer4(nn.Module):\n",
                'class ResNet50_layer4(nn.Module):\n    """ResNet-50 up to layer4, for 32x32 images."""\n\n')


COSMETIC = {
    "comments": _comments,
    "blank_lines": _blank_lines,
    "no_shape_comments": _no_shape_comments,
    "renamed_locals": _renamed_locals,
    "super_py3": _super_py3,
    "keywords": _keywords,
    "docstrings": _docstrings,
    "renamed+keywords+comments": lambda s: _comments(_keywords(_renamed_locals(s))),
}

BROKEN = {
    "syntax_error": lambda s: _sub(s, "class ResNet50_layer4(nn.Module):", "class ResNet50_layer4(nn.Module)"),
    "no_ResNet50_layer4": lambda s: _sub(_sub(s, "class ResNet50_layer4(nn.Module):", "class ResNet50(nn.Module):"),
                                         "super(ResNet50_layer4, self)", "super(ResNet50, self)"),
    # A first conv expecting 10 channels: builds, and its forward crashes on any image.
    "forward_crashes": lambda s: _sub(s, "nn.Conv2d(3, 64, 7, 2, 3)", "nn.Conv2d(10, 64, 7, 2, 3)"),
}

# Mistakes in the order of how often they are seen, several copies each.
MISTAKE_COPIES = {"avgpool_stride_1": 3, "stride_on_3x3": 3, "relu_after_addition": 3,
                  "missing_block_layer3": 2, "downsample_first_layer3": 2, "wrong_num_classes": 2,
                  "layer1_padding_5_0": 2, "padding0_on_3x3": 2}


def make_class(n_files: int) -> list[Student]:
    """n_files students; a prefix of the full class keeps its mix (see the ordering below)."""
    reference = SOLUTION.read_text()
    correct = [("reference", reference)] + [(name, f(reference)) for name, f in COSMETIC.items()]
    by_kind = []
    for name, copies in MISTAKE_COPIES.items():
        wrong = MUTATIONS[name].apply()
        # The three commonest: the second copy has comments of its own (another file, the same
        # program); the other mistakes' copies are the same file (shared between students).
        alt = _comments(wrong) if len(by_kind) < 3 else wrong
        by_kind.append([(name, wrong if i % 2 == 0 else alt) for i in range(copies)])
    # Round-robin over the kinds: the first copy of each mistake, then the second, ...
    mistakes = [kind[i] for i in range(max(map(len, by_kind))) for kind in by_kind if i < len(kind)]
    broken = [(name, f(reference)) for name, f in BROKEN.items()]
    # The full class of 40: 10 plain copies of the reference and 8 cosmetic variants (the most
    # common correct file is the skeleton filled in as handed out), 19 mistakes (3 of them the
    # AvgPool2d(2, 1) the rubric accepts), 3 broken.
    plain = [correct[0]] * 10
    variants = correct[1:]
    groups = {"correct": [c for pair in zip(plain, variants) for c in pair] + plain[len(variants):],
              "mistake": mistakes, "broken": broken}
    # Interleaved so that every prefix holds each group in about its share of the whole.
    total = sum(len(g) for g in groups.values())
    slots = sorted((((i + 0.5) / len(g), kind, i) for kind, g in groups.items() for i in range(len(g))))
    ordered = [(kind, *groups[kind][i]) for _, kind, i in slots]
    while len(ordered) < n_files:  # beyond 40: more correct copies
        ordered.append(("correct", *correct[len(ordered) % len(correct)]))
    assert total == 40
    return [Student(f"student{k:02d}.py", kind, what, src) for k, (kind, what, src) in enumerate(ordered[:n_files])]


# ----------------------------------------------------------------------------- grading


def reduced_data(n_train: int, dest: Path) -> Path:
    """The first n_train training images of the subset (all its test images), official format."""
    data = load_cifar10(SUBSET, cache=False)
    save_cifar10_format(dest, data.train_images[:n_train], data.train_labels[:n_train],
                        data.test_images, data.test_labels)
    return dest


def grade_all(students: list[Student], config: GradeConfig, label: str,
              save: Path | None = None) -> tuple[list[Report], list[float]]:
    """Grade each file in turn; its report and wall seconds (one JSON line each to `save`)."""
    reports, seconds = [], []
    for s in students:
        started = time.perf_counter()
        report = grade_bytes(s.source.encode(), filename=s.name, config=config)
        seconds.append(time.perf_counter() - started)
        reports.append(report)
        stages = ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items() if k != "total")  # this grade's own
        print(f"  [{label}] {s.name} {s.kind:7s} {s.what:26s} {seconds[-1]:6.1f} s"
              f" ({stages})  score {report.score:g}+{report.provisional_score:g}  accuracy {_acc(report)}  "
              f"fine-tune {report.trust.fine_tune}", flush=True)
        if save is not None:
            with save.open("a") as f:
                f.write(json.dumps({"run": label, "file": s.name, "what": s.what, "wall_s": seconds[-1],
                                    "accuracy": accuracy_of(report),
                                    "fine_tune": report.trust.fine_tune, "score": report.score,
                                    "provisional": report.provisional_score, "timings": report.timings}) + "\n")
    return reports, seconds


def _acc(report: Report) -> str:
    item = next((i for i in report.items if i.id == "accuracy"), None)
    if report.accuracy is not None:
        return f"{report.accuracy:.4f}"
    return "-" if item is None else f"- ({item.points:g} provisional)" if not item.verified else "-"


def accuracy_of(report: Report) -> tuple:
    """What must match between a class grade and a solo grade: verified and self-reported."""
    item = next((i for i in report.items if i.id == "accuracy"), None)
    return (report.accuracy, report.reference_accuracy, item.points if item else None,
            item.verified if item else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40, help="class size (default 40)")
    parser.add_argument("--train-images", type=int, default=None,
                        help="use the first N training images of the subset (default: all 5 170)")
    parser.add_argument("--smoke", action="store_true", help="--files 7 --train-images 200")
    parser.add_argument("--solo", choices=("file", "program"), default="file",
                        help="solo grades per distinct file content (default), or per verified program "
                             "(fewer grades: a cosmetic copy's solo time is its program's)")
    parser.add_argument("--save", type=Path, default=None, help="append one JSON line per grade to this file")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    n_files, n_train = (7, 200) if args.smoke else (args.files, args.train_images)
    students = make_class(n_files)
    device = resolve_device("auto")
    settings = with_precision(TrainSettings(limits=Limits(wall_seconds=7200, memory_bytes=16 << 30)), device)
    print(f"{n_files} files: " + ", ".join(f"{k} {v}" for k, v in Counter(s.kind for s in students).items())
          + f"; {len({s.source for s in students})} distinct contents; machine {machine_label(device)}, "
          f"torch {torch.__version__}, {args.threads} threads, bf16 {settings.bf16}", flush=True)
    input_shape = list(GradeConfig().table.input)
    started = time.perf_counter()
    digests = {c: program_digest(c, input_shape) for c in dict.fromkeys(s.source for s in students)}
    reference_digest = program_digest(SOLUTION.read_text(), input_shape)
    print(f"{len({d for d in digests.values() if d})} distinct verified programs among {len(digests)} distinct "
          f"contents (exported and checked here, {time.perf_counter() - started:.0f} s)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        root = Path(tmp)
        data_dir = reduced_data(n_train, root / "data") if n_train else SUBSET
        n_train_used = n_train or int(load_cifar10(SUBSET, cache=False).train_images.shape[0])
        checkpoint = root / "reference.ckpt"
        torch.manual_seed(7)  # as tests/conftest.py's test_checkpoint: seeded reference weights
        torch.save(load_reference().ResNet50_layer4().state_dict(), checkpoint)

        def config(cache: Path, prestart: bool = False) -> GradeConfig:
            return GradeConfig(checkpoint=checkpoint, data_dir=data_dir, skip_training=False,
                               threads=args.threads, train=settings, cache_dir=cache, prestart=prestart)

        # A worker is warm: torch imported, the reference exported. Neither side pays for it.
        started = time.perf_counter()
        grade_bytes(SOLUTION.read_bytes(), filename="warm-up.py",
                    config=replace(config(root / "warm", prestart=True), skip_training=True))
        print(f"warm-up (structure-only grade, not counted): {time.perf_counter() - started:.1f} s", flush=True)
        print(f"class: {n_files} files, one process, one cache folder, {n_train_used} training images", flush=True)
        class_cache = root / "class-cache"
        started = time.perf_counter()
        # As a worker or `autograder grade` with several files: the next grade's sandboxes start
        # while this one runs, and structure checks and verifier from fork servers (grader/prestart.py,
        # grader/forkserver.py); a solo grade starts its own, as for one file.
        class_reports, class_seconds = grade_all(students, config(class_cache, prestart=True), "class", args.save)
        class_wall = time.perf_counter() - started
        fine_tunes = len(list((class_cache / "fine-tunes").glob("*.json")))
        prestart.pool().close()  # a solo grade is one file alone: no sandboxes waiting beside it,
        forkserver.pool().close()  # and no fork servers

        # Solo grades: one per solo key (a file's content, or with --solo program its verified
        # program when it has one); each file counts its key's one measurement.
        keys = [solo_key(s, digests, args.solo) for s in students]
        first: dict[str, Student] = {}
        for k, s in zip(keys, students):
            first.setdefault(k, s)
        print(f"solo: {len(first)} grades, each alone with a fresh, empty cache folder: one per distinct "
              + ("file content" if args.solo == "file" else "verified program (its first file), and per "
                 "distinct content for files with no verified program")
              + "; identical files (programs) run the identical deterministic computation, so each is "
              "measured once and counted once per file", flush=True)
        solo: dict[str, tuple[Report, float]] = {}
        for i, (k, s) in enumerate(first.items()):
            (report,), (secs,) = grade_all([s], config(root / f"solo-cache-{i}"), "solo", args.save)
            solo[k] = (report, secs)

    solo_sum = sum(solo[k][1] for k in keys)
    ran = sum(r.trust.fine_tune == "ran" for r in class_reports)
    shared = sum(r.trust.fine_tune == "shared" for r in class_reports)
    self_reported = sum((r.trust.fine_tune or "").startswith("self-reported") for r in class_reports)
    programs = {p for p in digests.values() if p is not None}
    expected_fine_tunes = len(programs | {reference_digest})
    mismatches = []
    for k, s, r in zip(keys, students, class_reports):
        alone = solo[k][0]
        if accuracy_of(r) != accuracy_of(alone):
            mismatches.append(f"{s.name} ({s.what}): class {accuracy_of(r)} != solo {accuracy_of(alone)}")
        elif (r.score, r.provisional_score) != (alone.score, alone.provisional_score):
            print(f"note: {s.name} ({s.what}) scored {r.score:g}+{r.provisional_score:g} in the class, "
                  f"{alone.score:g}+{alone.provisional_score:g} alone (accuracy equal)")
    ratio = class_wall / solo_sum
    print(f"\n{'files':44s} {n_files}")
    print(f"{'fine-tunes run (cache entries, reference incl.)':44s} {fine_tunes}")
    print(f"{'  reports: ran / shared / self-reported':44s} {ran} / {shared} / {self_reported}")
    print(f"{'distinct verified programs':44s} {len(programs)}")
    print(f"{'  expected fine-tunes (those + the reference)':44s} {expected_fine_tunes}")
    print(f"{'class wall time':44s} {class_wall:.1f} s")
    print(f"{'solo sum':44s} {solo_sum:.1f} s")
    print(f"{'class / solo sum':44s} {ratio:.3f} (goal <= 0.35)")
    print(f"{'accuracy equal to the solo grade':44s} {n_files - len(mismatches)} / {n_files}")
    for line in mismatches:
        print(f"MISMATCH {line}")
    emit("class_time", {"machine": machine_label(device), "files": n_files, "n_train": n_train_used,
                        "distinct_contents": len(digests), "solo_mode": args.solo,
                        "solo_grades": len(first), "fine_tunes": fine_tunes, "reports_ran": ran,
                        "reports_shared": shared, "reports_self_reported": self_reported,
                        "distinct_verified_programs": len(programs),
                        "expected_fine_tunes": expected_fine_tunes, "class_wall_s": class_wall,
                        "solo_sum_s": solo_sum, "ratio": ratio, "accuracy_mismatches": len(mismatches),
                        "class_grades_s": class_seconds})
    sys.exit(1 if mismatches else 0)


def solo_key(student: Student, digests: dict[str, str | None], mode: str) -> str:
    program = digests[student.source]
    if mode == "program" and program is not None:
        return "program:" + program
    return "file:" + hashlib.sha256(student.source.encode()).hexdigest()


def program_digest(source: str, input_shape: list[int]) -> str | None:
    """The canonical digest of a file's verified program, computed here independently of the
    engine (the bench's own files, so importing them in this process is safe); None when the
    file has no verified program (it does not import, build or export, or the check refuses it)."""
    from grader import verify
    from grader.child.program import to_data

    module = types.ModuleType("resnet50_skeleton")
    try:
        exec(compile(source, "resnet50_skeleton.py", "exec"), module.__dict__)
        torch.manual_seed(0)
        data = to_data(module.ResNet50_layer4(), torch.randn(2, *input_shape))
    except Exception:  # the bench's broken files: no program
        return None
    checked = verify.check(data, [1, *input_shape])
    return checked.program.digest() if checked.program is not None else None


if __name__ == "__main__":
    main()
