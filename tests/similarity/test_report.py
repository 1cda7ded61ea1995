"""similarity.report.compare on inputs made from the reference solution (issue 14, item 5)."""
from __future__ import annotations

import pytest

from similarity import SimilarityReport, SimilaritySettings, compare
from similarity.report import LineRange
from similarity.tokens import normalize
from similarity.winnow import fingerprints, kgram_hashes
from tests.similarity import samples as s

EVERY_PAIR = SimilaritySettings(threshold=0.0, min_shared=1, min_fingerprints=1, overlap=0.0)
"""Reports every pair that shares a fingerprint, to read scores that are not flagged."""


@pytest.fixture(scope="module")
def wrong() -> str:
    return s.wrong_solution()


@pytest.fixture(scope="module")
def copy(wrong: str) -> str:
    return s.disguised_copy(wrong)


@pytest.fixture(scope="module")
def klass(wrong: str, copy: str) -> dict[str, str]:
    """A small class: the copied pair, two independent correct solutions, the reference itself."""
    return {"alice": wrong, "bob": copy, "carol": s.correct_explicit(), "dave": s.correct_comprehension(),
            "erin": s.REFERENCE}


@pytest.fixture(scope="module")
def report(klass: dict[str, str]) -> SimilarityReport:
    return compare(klass, exclude=[s.REFERENCE])


def score(report: SimilarityReport, a: str, b: str) -> float:
    return next((p.score for p in report.pairs if {p.a, p.b} == {a, b}), 0.0)


def covered(ranges: list[LineRange], line: int) -> bool:
    return any(r.start <= line <= r.end for r in ranges)


def line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.split("\n"), 1) if text in line)


def test_inputs_are_what_they_claim(wrong: str, copy: str) -> None:
    """The copy really is renamed and reformatted, and the two correct ones differ in layer3/4."""
    assert "c_mid" in copy and "middle_channels" not in copy and "  def forward(self, inp):" in copy
    assert copy.count("\n") != wrong.count("\n") and s.DISTINCTIVE_COMMENT in copy
    explicit, comprehension = s.correct_explicit(), s.correct_comprehension()
    assert "downsample=True" in explicit and "for _ in range" in comprehension
    for src in (wrong, copy, explicit, comprehension):
        compile(src, "<sample>", "exec")


def test_the_copied_pair_is_flagged_high_and_is_one_cluster(report: SimilarityReport) -> None:
    top = report.pairs[0]
    assert (top.a, top.b) == ("alice", "bob") and top.score >= 0.9 and top.overlap >= 0.8 and top.shared >= 20
    assert [c.submissions for c in report.clusters] == [["alice", "bob"]]


def test_two_independent_correct_solutions_are_not_flagged_once_the_reference_is_excluded(
        klass: dict[str, str], report: SimilarityReport) -> None:
    assert [(p.a, p.b) for p in report.pairs] == [("alice", "bob")]  # nor against the wrong one
    with_exclusion = compare(klass, exclude=[s.REFERENCE], settings=EVERY_PAIR)
    without = compare(klass, settings=EVERY_PAIR)
    assert score(with_exclusion, "carol", "dave") < 0.2
    # Both share the skeleton and every blank's answer: without the exclusion that alone looks alike.
    assert score(without, "carol", "dave") > 0.5
    assert score(without, "carol", "dave") > score(with_exclusion, "carol", "dave") + 0.3


def test_the_untouched_reference_is_never_flagged(klass: dict[str, str], report: SimilarityReport) -> None:
    erin = next(f for f in report.files if f.name == "erin")
    assert erin.kept == 0 and not erin.eligible and erin.excluded > 0
    nearly = s.edit(s.REFERENCE, "nn.MaxPool2d(3, 2, 1)", "nn.MaxPool2d(3, 2, 0)")  # one blank wrong
    lenient = compare({**klass, "frank": nearly, "gina": nearly}, exclude=[s.REFERENCE], settings=EVERY_PAIR)
    assert all("erin" not in (p.a, p.b) for p in lenient.pairs)
    strict = compare({**klass, "frank": nearly, "gina": nearly}, exclude=[s.REFERENCE])
    assert all({"frank", "gina"}.isdisjoint((p.a, p.b)) for p in strict.pairs)  # too little of their own


def test_known_sources_are_matched_and_known_pairs_are_not_reported(klass: dict[str, str]) -> None:
    known = {"github/last_year.py": s.online_solution(), "mirror/last_year.py": s.online_solution(),
             "blog/resnet.py": s.ONLINE_SOURCE}
    report = compare({**klass, "hank": s.from_online()}, exclude=[s.REFERENCE], known=known)
    against_known = [(p.a, p.b) for p in report.pairs if p.b_known]
    assert against_known == [("hank", "github/last_year.py"), ("hank", "mirror/last_year.py")]
    assert all(not p.b_known or p.score >= 0.9 for p in report.pairs)
    cluster = next(c for c in report.clusters if "hank" in c.submissions)
    assert cluster.submissions == ["hank"] and cluster.known == ["github/last_year.py", "mirror/last_year.py"]
    assert [f.name for f in report.files if f.known] == sorted(known)


def test_broken_files_do_not_raise_and_say_why(klass: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("similarity.tokens.MAX_SOURCE_CHARS", 20_000)
    broken = {"syntax": "def f(:\n    return 1\n" + s.REFERENCE[:500], "unclosed": 'x = """' + s.REFERENCE,
              "bad_indent": "if a:\n        b = 1\n    c = 2\n" + s.REFERENCE, "binary": "\x00\x01\x02PK\x03\x04",
              "empty": "", "huge": "x = 1\n" * 10_000}
    report = compare({**klass, **broken}, exclude=[s.REFERENCE, "\x00"], known={"k.py": "\x00"})
    notes = {f.name: f.note for f in report.files}
    assert "partial" in (notes["unclosed"] or "") and "binary" in (notes["binary"] or "")
    assert notes["bad_indent"] == "lexed with indentation removed" and notes["empty"] is None
    assert "cut to its first 20000 characters" in (notes["huge"] or "")
    assert [(p.a, p.b) for p in report.pairs] == [("alice", "bob")]


def test_same_input_same_report_whatever_the_order(klass: dict[str, str]) -> None:
    first = compare(klass, exclude=[s.REFERENCE]).model_dump_json()
    again = compare(klass, exclude=[s.REFERENCE]).model_dump_json()
    reordered = compare(dict(reversed(list(klass.items()))), exclude=[s.REFERENCE]).model_dump_json()
    assert first == again == reordered


def test_shared_ranges_point_at_the_copied_lines(wrong: str, copy: str, report: SimilarityReport) -> None:
    pair = report.pairs[0]
    for source, ranges in ((wrong, pair.a_ranges), (copy, pair.b_ranges)):
        assert covered(ranges, line_of(source, s.DISTINCTIVE_COMMENT))
        assert covered(ranges, line_of(source, "0.5 *"))  # the unusual mistake, renamed in the copy
        assert covered(ranges, line_of(source, "# layer4 never downsamples"))
        assert not covered(ranges, line_of(source, "def conv1x1"))  # the skeleton's, in both
        assert not covered(ranges, line_of(source, "nn.MaxPool2d(3, 2, 1)"))  # a blank's answer, in both
        assert all(1 <= r.start <= r.end <= source.count("\n") + 1 for r in ranges)
        assert all(a.end + 1 < b.start for a, b in zip(ranges, ranges[1:]))  # merged


def test_a_copy_of_a_copy_joins_one_cluster(klass: dict[str, str], copy: str) -> None:
    third = s.rename(copy, {"inp": "t", "y": "o", "c_in": "a", "c_mid": "b", "c_out": "c"})
    report = compare({**klass, "ivan": s.reindent(third, 4)}, exclude=[s.REFERENCE])
    assert [c.submissions for c in report.clusters] == [["alice", "bob", "ivan"]]
    assert report.clusters[0].pairs == 3


def test_threshold_argument_overrides_the_settings(klass: dict[str, str]) -> None:
    assert compare(klass, exclude=[s.REFERENCE], threshold=1.0).settings.threshold == 1.0
    assert compare(klass, exclude=[s.REFERENCE], settings=SimilaritySettings(threshold=0.3)).settings.threshold == 0.3
    with pytest.raises(ValueError):
        compare(klass, threshold=2.0)


def test_common_fingerprints_of_most_of_a_big_class_are_dropped() -> None:
    """An idiom most of the class wrote is no evidence: twelve files share it and nothing else."""
    idiom = s.correct_comprehension()
    files = {f"s{i:02d}": idiom + f"\n# student {i}: {' '.join(f'w{i}x{j}' for j in range(3))}\n" for i in range(12)}
    report = compare(files, exclude=[s.REFERENCE])
    assert report.pairs == [] and report.common_hashes > 0
    assert all(f.common > 0 and not f.eligible for f in report.files)



def test_every_kgram_of_the_excluded_source_is_excluded_not_only_its_winnowed_ones(wrong: str) -> None:
    """Around an edit, the student's file picks other positions than the reference picked in
    that passage: excluding only the reference's own picks would leave reference text behind."""
    reference = normalize(s.REFERENCE)
    every = set(kgram_hashes(reference.texts))
    picked = {fp.hash for fp in fingerprints(reference)}
    nearly = s.edit(s.REFERENCE, "nn.MaxPool2d(3, 2, 1)", "nn.MaxPool2d(3, 2, 0)")
    report = compare({"f": nearly, "g": wrong}, exclude=[s.REFERENCE])
    for summary, source in zip(report.files, (nearly, wrong)):
        own = {fp.hash for fp in fingerprints(normalize(source))}
        assert summary.kept == len(own - every) < len(own - picked)


def test_a_file_made_of_idioms_others_also_wrote_is_not_flagged_for_being_contained() -> None:
    """`score` uses the smaller file, so a file whose own code is one popular style is
    contained in everyone's who wrote that style and more: that alone is no copying."""
    style = s.correct_comprehension()

    def own_words(i: int) -> str:
        return "".join(f"        # {' '.join(f'w{i}x{j}y{n}' for j in range(8))}\n" for n in range(8))

    files = {"plain": style} | {f"more{i}": s.edit(style, "        self.fc = ", own_words(i) + "        self.fc = ")
                                for i in range(4)}
    assert compare(files, exclude=[s.REFERENCE]).pairs == []
    contained = compare(files, exclude=[s.REFERENCE], settings=SimilaritySettings(overlap=0.0))
    assert {(p.a, p.b) for p in contained.pairs} >= {("more0", "plain"), ("more3", "plain")}
    assert all(p.score >= 0.9 for p in contained.pairs if p.b == "plain")
