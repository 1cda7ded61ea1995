"""The reference's expectations kept on disk (grader/expected.py): a hit gives what a fresh
computation gives, the key follows everything they depend on, an entry that is damaged in any
way is recomputed and overwritten, a pickle placed there never runs, and a cache that cannot be
written never fails a grade."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Iterator

import pytest
import torch

from grader import expected as gexpected
from grader import verify
from grader.engine import GradeConfig, grade_bytes
from grader.expected import Expected, build_expected, cache_key, read_entry, usable_cache_dir
from grader.rubric import SOLUTION, CheckpointError, EquivalenceRule, load_rubric, load_table
from grader.sandbox import python_roots
from tests.conftest import held_open

TABLE = load_table()
RUBRIC = load_rubric()
CHILD_FILES = ("probe.pt", "reference-seeded.pt")


@pytest.fixture(autouse=True)
def _no_memo() -> Iterator[None]:
    """Each build here reads the disk, not the process's own memo of earlier builds."""
    gexpected._build_expected.cache_clear()
    yield
    gexpected._build_expected.cache_clear()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Expected, Path]:
    """Computed without any cache (seeded weights: no checkpoint), and the child's files it wrote."""
    gexpected._build_expected.cache_clear()
    out = tmp_path_factory.mktemp("fresh")
    return build_expected(TABLE, None, out), out


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes]:
    """A good entry (its file name and bytes), for tests that start from a filled cache."""
    gexpected._build_expected.cache_clear()
    cache = tmp_path_factory.mktemp("stored")
    out = cache / "out"
    out.mkdir()
    build_expected(TABLE, None, out, cache_dir=cache, rubric=RUBRIC)
    [entry] = entries(cache)
    return entry.name, entry.read_bytes()


def filled(tmp_path: Path, stored: tuple[str, bytes]) -> tuple[Path, Path]:
    """A cache folder holding the good entry: (the folder, the entry)."""
    cache = tmp_path / "cache"
    entry = cache / gexpected.CACHE_SUBDIR / stored[0]
    entry.parent.mkdir(parents=True)
    entry.write_bytes(stored[1])
    return cache, entry


def build(cache: Path | None, where: Path, checkpoint: Path | None = None) -> tuple[Expected, Path]:
    where.mkdir(parents=True)
    return build_expected(TABLE, checkpoint, where, cache_dir=cache, rubric=RUBRIC), where


def entries(cache: Path) -> list[Path]:
    return sorted((cache / gexpected.CACHE_SUBDIR).glob("*.pt"))


def assert_same(a: Expected, b: Expected) -> None:
    """Field by field, tensors with torch.equal (a JSON round trip must not turn one list into a tuple)."""
    for f in dataclasses.fields(Expected):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "blocks":
            assert x.keys() == y.keys()
            for name in x:
                for g in dataclasses.fields(x[name]):
                    u, v = getattr(x[name], g.name), getattr(y[name], g.name)
                    if isinstance(u, torch.Tensor):
                        assert torch.equal(u, v), (name, g.name)
                    else:
                        assert u == v and type(u) is type(v), (name, g.name)
        elif isinstance(x, torch.Tensor):
            assert torch.equal(x, y), f.name
        else:
            assert x == y and type(x) is type(y), f.name


def assert_same_child_files(a: Path, b: Path) -> None:
    for name in CHILD_FILES:
        x, y = torch.load(a / name, weights_only=True), torch.load(b / name, weights_only=True)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), name
    assert (b / "READY").exists()


def warnings_about(caplog: pytest.LogCaptureFixture, text: str, logger: str = "grader.expected") -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == logger and r.levelno == logging.WARNING and text in r.getMessage()]


def test_a_cache_hit_equals_a_fresh_computation_and_is_the_entry(tmp_path: Path, fresh: tuple[Expected, Path],
                                                                 stored: tuple[str, bytes]) -> None:
    cache, entry = filled(tmp_path, stored)  # written by a miss
    hit, out = build(cache, tmp_path / "b")
    assert_same(fresh[0], hit)
    assert_same_child_files(fresh[1], out)
    # The hit is what the entry holds (not a computation that happens to agree with it).
    blob = torch.load(entry, weights_only=True)
    blob["meta"] = blob["meta"].replace("seeded reference weights", "SEEDED REFERENCE WEIGHTS")
    torch.save(blob, entry)
    assert build(cache, tmp_path / "c")[0].checkpoint_source.startswith("SEEDED REFERENCE WEIGHTS")


def test_the_key_follows_checkpoint_bytes_rubric_table_and_code(tmp_path: Path, fresh: tuple[Expected, Path]) -> None:
    table, rubric = TABLE.model_dump_json(by_alias=True), RUBRIC.model_dump_json()
    base = cache_key(table, "a" * 64, rubric)
    other_table = TABLE.model_copy(update={"input": [3, 64, 64]}).model_dump_json(by_alias=True)
    assert base == cache_key(table, "a" * 64, rubric)
    assert len({base, cache_key(table, "b" * 64, rubric), cache_key(table, None, rubric),
                cache_key(other_table, "a" * 64, rubric), cache_key(table, "a" * 64, None)}) == 5
    # On disk: one changed weight in the checkpoint file is another entry, with other logits.
    cache = tmp_path / "cache"
    weights = torch.load(fresh[1] / "reference-seeded.pt", weights_only=True)
    checkpoint = tmp_path / "course.ckpt"
    torch.save(weights, checkpoint)
    first = build(cache, tmp_path / "a", checkpoint)[0]
    weights["fc.bias"] = weights["fc.bias"] + 1.0
    torch.save(weights, checkpoint)
    second = build(cache, tmp_path / "b", checkpoint)[0]
    assert len(entries(cache)) == 2
    assert first.checkpoint_source != second.checkpoint_source  # names the file's sha256
    assert not torch.equal(first.logits, second.logits)
    assert torch.equal(first.logits, fresh[0].logits)  # the same weights as seeded: the same logits



def test_a_missing_checkpoint_is_not_answered_from_the_cache(tmp_path: Path, stored: tuple[str, bytes]) -> None:
    """No checkpoint file is no key: the grade must fail as without a cache, not get the
    seeded reference's entry."""
    cache, _ = filled(tmp_path, stored)
    with pytest.raises(CheckpointError, match="not found"):
        build(cache, tmp_path / "b", tmp_path / "missing.ckpt")
    assert (tmp_path / "b" / "FAILED").exists()

def _truncated(entry: Path) -> None:
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])


def _another_key(entry: Path) -> None:
    blob = torch.load(entry, weights_only=True)
    blob["key"] = "0" * 64  # an entry made for other inputs, under this key's name
    torch.save(blob, entry)


def _garbage(entry: Path) -> None:
    entry.write_bytes(os.urandom(4096))


@pytest.mark.parametrize("damage", [_truncated, _another_key, _garbage])
def test_a_damaged_entry_is_recomputed_and_overwritten(tmp_path: Path, fresh: tuple[Expected, Path],
                                                       stored: tuple[str, bytes], caplog: pytest.LogCaptureFixture,
                                                       damage) -> None:
    cache, entry = filled(tmp_path, stored)
    damage(entry)
    assert read_entry(entry) is None
    caplog.clear()
    got, out = build(cache, tmp_path / "b")
    assert_same(fresh[0], got)
    assert_same_child_files(fresh[1], out)
    assert len(warnings_about(caplog, "ignored")) == 1  # one line says so
    assert entries(cache) == [entry] and read_entry(entry) is not None  # overwritten with a good one


class _Bomb:
    """Unpickling this creates `marker`: proof that the file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def test_a_pickle_in_the_cache_is_never_run(tmp_path: Path, fresh: tuple[Expected, Path],
                                            stored: tuple[str, bytes], caplog: pytest.LogCaptureFixture) -> None:
    cache, entry = filled(tmp_path, stored)
    marker = tmp_path / "the-pickle-ran"
    blob = torch.load(entry, weights_only=True)
    blob["tensors"]["logits"] = _Bomb(marker)  # everything else as a real entry has it
    torch.save(blob, entry)
    caplog.clear()
    got = build(cache, tmp_path / "b")[0]
    assert not marker.exists()
    assert_same(fresh[0], got)
    assert len(warnings_about(caplog, "ignored")) == 1
    assert read_entry(entry) is not None


def test_a_cache_that_cannot_be_written_still_builds(tmp_path: Path, fresh: tuple[Expected, Path],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # (chmod would not stop root: a file where the folder goes does)
    caplog.clear()
    got, out = build(blocker / "cache", tmp_path / "a")
    assert_same(fresh[0], got)
    assert_same_child_files(fresh[1], out)
    assert len(warnings_about(caplog, "not cached")) == 1


def test_only_the_most_recently_used_entries_are_kept(tmp_path: Path, stored: tuple[str, bytes]) -> None:
    cache, used = filled(tmp_path, stored)
    built = read_entry(used)
    assert built is not None
    os.utime(used, ns=(10**9, 10**9))  # long unused
    others = [used.parent / f"{i:064x}.pt" for i in range(gexpected.CACHE_KEEP)]
    for other in others:  # entries of other keys (a code or torch change), written after it
        gexpected.write_entry(other, built)
    assert entries(cache) == sorted(others)  # the least recently used went
    build(cache, tmp_path / "b")  # a miss again: written anew, and the oldest other goes
    assert used.exists() and len(entries(cache)) == gexpected.CACHE_KEEP
    os.utime(used, ns=(10**9, 10**9))
    gexpected._build_expected.cache_clear()
    build(cache, tmp_path / "c")  # a hit marks its entry used
    assert used.stat().st_mtime_ns > 10**9


def test_a_rebuild_leaves_the_files_a_child_has_open_whole(tmp_path: Path) -> None:
    """A worker's next grade under another rubric writes the child's files again into the same
    folder while the last grade's fork may still be reading them: each is replaced, never
    rewritten in place. (In place, a fork read a half-written probe.pt, exited with code 1, and
    its student was told the file had crashed: CI, `test_the_rubric_may_deduct_instead`.)"""
    out = tmp_path / "out"
    out.mkdir()
    build_expected(TABLE, None, out, rubric=RUBRIC)
    with held_open([out / name for name in CHILD_FILES]) as changed:
        other = RUBRIC.model_copy(update={"equivalence": EquivalenceRule(on_differs="deduct", points=5)})
        assert other.model_dump_json() != RUBRIC.model_dump_json()  # a build of its own, not the memo's
        build_expected(TABLE, None, out, rubric=other)
        assert changed() == [], "written in place"
    assert_same_child_files(out, out)  # and the new files are whole
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_cache_folder_a_sandbox_could_see_is_not_used(tmp_path: Path) -> None:
    """Every sandbox binds the Python roots read-only and the grade's inputs; an entry there
    would be readable by student code (tests/adversarial/test_secrets.py runs one)."""
    assert usable_cache_dir(Path(python_roots()[0]) / "autograder-cache") is None
    assert usable_cache_dir(tmp_path / "out" / "cache", tmp_path / "out") is None
    assert usable_cache_dir(tmp_path / "cache", tmp_path / "out") == tmp_path / "cache" / gexpected.CACHE_SUBDIR


def test_a_grade_with_a_cache_that_cannot_be_written_is_graded(tmp_path: Path, config: GradeConfig) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    report = grade_bytes(SOLUTION.read_bytes(), filename="resnet50_skeleton.py",
                         config=dataclasses.replace(config, cache_dir=blocker / "cache"))
    assert report.status == "graded" and report.error is None
    assert report.score == report.max_score



# ---------------------------------------------------------------- the reference as programs (grader/verify.py)


@pytest.fixture
def no_programs_memo() -> Iterator[None]:
    """This process's exported reference set aside (other tests get it back, not a new export)."""
    kept = dict(verify._REFERENCES)
    verify._REFERENCES.clear()
    yield
    verify._REFERENCES.clear()
    verify._REFERENCES.update(kept)


def _same_reference(a: verify.Reference, b: verify.Reference) -> None:
    assert a.model.digest() == b.model.digest() and a.model_facts == b.model_facts
    assert a.blocks.keys() == b.blocks.keys()
    for name in a.blocks:
        assert a.blocks[name].digest() == b.blocks[name].digest() and a.block_facts[name] == b.block_facts[name]


def test_the_reference_programs_on_disk_are_the_exported_ones(tmp_path: Path, no_programs_memo: None,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """The export (~2 s of a cold grade) is kept as program data, read back by the untrusted-data
    parser; a damaged entry is exported again and overwritten."""
    cache = tmp_path / "cache"
    exported = verify.reference(TABLE, cache)
    [entry] = (cache / gexpected.CACHE_SUBDIR).glob("programs-*.json")
    os.utime(entry, ns=(10**9, 10**9))
    verify._REFERENCES.clear()
    caplog.clear()
    _same_reference(exported, verify.reference(TABLE, cache))
    assert entry.stat().st_mtime_ns > 10**9 and not warnings_about(caplog, "", "grader.verify")  # read, accepted
    _truncated(entry)
    verify._REFERENCES.clear()
    _same_reference(exported, verify.reference(TABLE, cache))
    assert len(warnings_about(caplog, "ignored", "grader.verify")) == 1
    assert json.loads(entry.read_text())["key"] == entry.stem  # whole again
