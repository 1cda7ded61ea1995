"""Reading a TA's course zip: a bad entry is that student's rejected row, not the whole zip's refusal."""
from __future__ import annotations

import io
import zipfile

import pytest

from api.uploads import SKELETON, Entry, UploadError, ZipContents, read_zip
from grader.rubric import SOLUTION

GOOD = SOLUTION.read_bytes()
LIMITS = dict(max_entries=20, max_total=16 << 20, max_file=256 << 10)


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def test_bad_entries_are_rejected_rows_for_their_students_and_the_rest_is_accepted() -> None:
    out = read_zip(_zip([
        (f"s1/{SKELETON}", GOOD),
        (f"s2/{SKELETON}", b""),                      # empty
        ("s3/notes.txt", b"I could not finish"),      # no Python file at all
        (f"s4_{SKELETON}", b"\x00\x01binary"),        # binary
        ("notes.txt", b"for the TA"),                 # no student
        (f"s5/{SKELETON}", GOOD + b"#" * (300 << 10)),  # too large
    ]), **LIMITS)
    assert [e.student_id for e in out.entries] == ["s1"]
    rejected = {r.student_id: r.message for r in out.rejected}
    assert set(rejected) == {"s2", "s3", "s4", "s5"}
    assert rejected["s2"].startswith(f"s2/{SKELETON} (student s2)") and "empty" in rejected["s2"]
    assert "s3/notes.txt (student s3) is not a Python file" in rejected["s3"]
    assert f"s4_{SKELETON} (student s4)" in rejected["s4"] and "binary" in rejected["s4"]
    assert "s5" in rejected["s5"] and "256 KiB" in rejected["s5"]
    assert any("'notes.txt'" in w and "not in a student's folder" in w for w in out.warnings)


def test_a_rejected_entry_reports_zero_points_and_why() -> None:
    out = read_zip(_zip([(f"s2/{SKELETON}", b"   \n")]), **LIMITS)
    report = out.rejected[0].report(105.0)
    assert report.status == "rejected" and report.score == 0 and report.max_score == 105
    assert report.submission.student_id == "s2" and "s2/" in report.error.message


def test_duplicates_keep_the_last_per_student_with_a_warning() -> None:
    out = read_zip(_zip([(f"s1/{SKELETON}", GOOD + b"# first\n"), ("s1/helper.py", b"x = 1\n"),
                         (f"s1_{SKELETON}", GOOD + b"# last\n"), ("s1/readme.md", b"hi")]), **LIMITS)
    assert len(out.entries) == 1 and out.entries[0].data.endswith(b"# last\n")
    assert any("second file for student s1" in w and f"s1_{SKELETON}" in w for w in out.warnings)
    assert any("'s1/helper.py'" in w for w in out.warnings) and any("'s1/readme.md'" in w for w in out.warnings)


def test_a_later_file_in_the_batch_wins_over_an_earlier_one() -> None:
    batch = ZipContents()
    batch.extend(read_zip(_zip([(f"s1/{SKELETON}", GOOD + b"# zip\n"), (f"s2/{SKELETON}", GOOD)]), **LIMITS))
    batch.extend(ZipContents(entries=[Entry("s1", SKELETON, GOOD + b"# loose\n")]))
    assert sorted(e.student_id for e in batch.entries) == ["s1", "s2"] and batch.count == 2
    assert next(e for e in batch.entries if e.student_id == "s1").data.endswith(b"# loose\n")
    assert any("s1 appears in two files" in w for w in batch.warnings)


def test_ignored_entries_count_against_the_entry_limit() -> None:
    """5 students and 16 ignored files (each kind alone under the limit of 20) are refused; 20 in all pass."""
    students = [(f"s{i}/{SKELETON}", GOOD) for i in range(5)]
    ignored = ([(f"__MACOSX/._{i}", b"x") for i in range(6)] + [(f"notes{i}.txt", b"x") for i in range(5)]
               + [(f"bad id {i}/{SKELETON}", GOOD) for i in range(5)])
    with pytest.raises(UploadError) as exc:
        read_zip(_zip(students + ignored), **LIMITS)
    assert exc.value.status == 413 and "ignored files count too" in str(exc.value)
    out = read_zip(_zip(students + ignored[1:]), **LIMITS)
    assert len(out.entries) == 5 and len(out.warnings) == 10  # __MACOSX is skipped without a warning


def test_a_zip_of_the_course_folder_reads_through_it() -> None:
    out = read_zip(_zip([(f"course/s1/{SKELETON}", GOOD), (f"course/s2/{SKELETON}", GOOD)]), **LIMITS)
    assert sorted(e.student_id for e in out.entries) == ["s1", "s2"]


def test_a_zip_with_nothing_for_any_student_is_refused_with_the_reason() -> None:
    with pytest.raises(UploadError) as exc:
        read_zip(_zip([("notes.txt", b"x")]), **LIMITS)
    assert exc.value.status == 422 and "notes.txt" in str(exc.value)


@pytest.mark.parametrize("name", ["../../evil/resnet50_skeleton.py", "/abs/resnet50_skeleton.py"])
def test_an_escaping_entry_still_refuses_the_whole_zip(name: str) -> None:
    with pytest.raises(UploadError) as exc:
        read_zip(_zip([(f"s1/{SKELETON}", GOOD), (name, GOOD)]), **LIMITS)
    assert "outside" in str(exc.value)
