"""Exports a TA downloads: gradebook CSV, Gradescope and PrairieLearn results.json."""
from __future__ import annotations

import csv
import io
import json

import pytest

from api.exports import ITEM_IDS, gradebook_csv, gradescope_results, prairielearn_results
from grader.report import Error, Item, Report, Submission

MAX = {"q1_downsample": 2.0, "q1_no_downsample": 2.0, "q2_blanks": 3.0,
       "q2_layer3": 4.0, "q2_layer4": 4.0, "accuracy": 5.0}
TOTAL = sum(MAX.values())  # 20


def _submission(student_id: str | None) -> Submission:
    return Submission(filename="resnet.py", sha256="ab" * 32, student_id=student_id, size_bytes=1234)


def _item(item_id: str, points: float, *, skipped: bool = False, feedback: list[str] | None = None) -> Item:
    max_points = 0.0 if skipped else MAX[item_id]
    return Item(id=item_id, title=f"Title of {item_id}", points=points, max_points=max_points,
                passed=points == max_points and not skipped, skipped=skipped, feedback=feedback or [])


@pytest.fixture
def full() -> Report:
    items = [_item(i, MAX[i], feedback=[f"{i} ok"]) for i in ITEM_IDS]
    return Report(submission=_submission("alice"), status="graded", score=TOTAL, max_score=TOTAL,
                  accuracy=0.8118, items=items, timings={"total": 42.123456})


@pytest.fixture
def partial() -> Report:
    items = [
        _item("q1_downsample", 2.0),
        _item("q1_no_downsample", 0.5, feedback=["conv2 stride is 2, expected 1", "shape changes"]),
        _item("q2_blanks", 3.0),
        _item("q2_layer3", 4.0),
        _item("q2_layer4", 0.0, feedback=["layer4 is missing"]),
        _item("accuracy", 0.0, skipped=True, feedback=["Skipped: structure-only grading."]),
    ]
    return Report(submission=_submission("bob"), status="graded", score=9.5, max_score=15.0,
                  accuracy=None, items=items, timings={})


@pytest.fixture
def rejected() -> Report:
    error = Error(kind="syntax_error", message="Syntax error on line 3: invalid syntax", line=3,
                  traceback=['  File "resnet.py", line 3', "    def f(:"])
    return Report(submission=_submission("=HYPERLINK(\"http://evil\")"), status="rejected", score=0.0,
                  max_score=TOTAL, error=error, timings={"total": 0.5})


def _rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return list(reader.fieldnames or []), list(reader)


# ------------------------------------------------------------------------------- CSV

def test_csv_header_is_exact() -> None:
    header, rows = _rows(gradebook_csv([]))
    assert header == ["student_id", "score", "max_score", "accuracy_fraction", "status", *ITEM_IDS[:-1],
                      "accuracy_points", "error"]
    assert rows == []


def test_csv_header_literal() -> None:
    first_line = gradebook_csv([]).splitlines()[0]
    assert first_line == ("student_id,score,max_score,accuracy_fraction,status,q1_downsample,q1_no_downsample,"
                          "q2_blanks,q2_layer3,q2_layer4,accuracy_points,error")


def test_csv_rows_parse_back(full: Report, partial: Report, rejected: Report) -> None:
    text = gradebook_csv([
        ("alice", "graded", full),
        ("bob", "graded", partial),
        ("carol", "rejected", rejected),
        ("dave", "queued", None),
    ])
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    rows = [dict(zip(range(len(header)), r)) for r in reader]
    col = {name: i for i, name in enumerate(header)}
    acc_summary, acc_item = col["accuracy_fraction"], col["accuracy_points"]
    assert len(rows) == 4
    assert all(len(r) == len(header) for r in rows)

    alice, bob, carol, dave = rows
    assert alice[col["student_id"]] == "alice"
    assert float(alice[col["score"]]) == 20.0 and float(alice[col["max_score"]]) == 20.0
    assert alice[acc_summary] == "0.8118"  # the same number as the JSON's accuracy
    assert alice[col["status"]] == "graded"
    assert [float(alice[col[i]]) for i in ITEM_IDS[:-1]] == [2.0, 2.0, 3.0, 4.0, 4.0]
    assert float(alice[acc_item]) == 5.0
    assert alice[col["error"]] == ""

    assert float(bob[col["score"]]) == 9.5 and float(bob[col["max_score"]]) == 15.0
    assert bob[acc_summary] == ""          # no fine-tuning: no accuracy
    assert bob[acc_item] == ""             # skipped item: empty, not "0"
    assert float(bob[col["q1_no_downsample"]]) == 0.5
    assert bob[col["q2_layer4"]] == "0"    # judged and zero is not the same as absent

    assert carol[col["status"]] == "rejected"
    assert float(carol[col["score"]]) == 0.0
    assert all(carol[col[i]] == "0" for i in ITEM_IDS[:-1]) and carol[acc_item] == "0"  # rejected: 0, not blank
    assert carol[col["error"]].startswith("syntax_error")
    assert "line 3" in carol[col["error"]]

    assert dave[col["student_id"]] == "dave" and dave[col["status"]] == "queued"
    assert all(dave[i] == "" for i in range(len(header)) if i not in (col["student_id"], col["status"]))


def test_csv_dictreader_reads_rows(partial: Report) -> None:
    header, rows = _rows(gradebook_csv([("bob", "graded", partial)]))
    assert len(rows) == 1
    row = rows[0]
    assert row["student_id"] == "bob" and row["status"] == "graded"
    assert row["score"] == "9.5" and row["max_score"] == "15"
    assert row["q1_no_downsample"] == "0.5" and row["q2_blanks"] == "3"
    assert row["accuracy_fraction"] == "" and row["accuracy_points"] == ""
    assert row["error"] == ""


def test_csv_dictreader_accuracy_and_its_points(full: Report) -> None:
    _, rows = _rows(gradebook_csv([("alice", "graded", full)]))
    assert rows[0]["accuracy_fraction"] == "0.8118" and rows[0]["accuracy_points"] == "5"
    assert float(rows[0]["accuracy_fraction"]) == full.accuracy


@pytest.mark.parametrize("evil", ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)"])
def test_csv_formula_injection_neutralised(evil: str, full: Report) -> None:
    header, rows = _rows(gradebook_csv([(evil, "graded", full)]))
    assert rows[0]["student_id"] == "'" + evil


def test_csv_quotes_commas_and_quotes(full: Report) -> None:
    sid = 'smith, "jr"\nline2'
    header, rows = _rows(gradebook_csv([(sid, "graded", full)]))
    assert len(rows) == 1 and rows[0]["student_id"] == sid


def test_csv_falls_back_to_report_student_id(full: Report) -> None:
    header, rows = _rows(gradebook_csv([(None, "graded", full), (None, "queued", None)]))
    assert rows[0]["student_id"] == "alice"
    assert rows[1]["student_id"] == ""


def test_csv_error_cell_neutralised(rejected: Report) -> None:
    rejected.error.kind = "runtime_error"  # type: ignore[union-attr]
    rejected.error.message = "x"  # type: ignore[union-attr]
    text = gradebook_csv([("=evil", "rejected", rejected)])
    _, rows = _rows(text)
    assert rows[0]["student_id"] == "'=evil"
    assert rows[0]["error"] == "runtime_error: x"


# ------------------------------------------------------------------------ Gradescope

GS_TOP = {"score", "max_score", "output", "visibility", "stdout_visibility", "tests"}
GS_TEST = {"name", "score", "max_score", "status", "output", "visibility"}


def test_gradescope_full(full: Report) -> None:
    res = gradescope_results(full)
    json.loads(json.dumps(res))
    assert GS_TOP <= set(res)
    assert res["score"] == 20.0 and res["max_score"] == 20.0
    assert res["execution_time"] == pytest.approx(42.123, abs=1e-3)
    assert len(res["tests"]) == len(ITEM_IDS)
    for test, item_id in zip(res["tests"], ITEM_IDS):
        assert set(test) == GS_TEST
        assert test["status"] == "passed"
        assert test["score"] == test["max_score"] == MAX[item_id]
        assert test["output"] == f"{item_id} ok"
        assert test["name"] == f"Title of {item_id}"
    assert sum(t["score"] for t in res["tests"]) == pytest.approx(res["score"])
    assert sum(t["max_score"] for t in res["tests"]) == pytest.approx(res["max_score"])
    assert res["leaderboard"][0]["value"] == pytest.approx(81.18)
    assert "Error" not in res["output"]


def test_gradescope_partial_skips_skipped_item(partial: Report) -> None:
    res = gradescope_results(partial)
    json.dumps(res)
    names = [t["name"] for t in res["tests"]]
    assert "Title of accuracy" not in names and len(names) == 5
    assert sum(t["score"] for t in res["tests"]) == pytest.approx(res["score"]) == pytest.approx(9.5)
    assert sum(t["max_score"] for t in res["tests"]) == pytest.approx(res["max_score"])
    by_name = {t["name"]: t for t in res["tests"]}
    assert by_name["Title of q1_no_downsample"]["status"] == "failed"
    assert by_name["Title of q1_no_downsample"]["output"] == "conv2 stride is 2, expected 1\nshape changes"
    assert by_name["Title of q2_blanks"]["status"] == "passed"
    assert "execution_time" not in res  # no total timing: omitted, not null
    assert "leaderboard" not in res


def test_gradescope_rejected_carries_error(rejected: Report) -> None:
    res = gradescope_results(rejected)
    json.dumps(res)
    assert res["score"] == 0.0 and res["max_score"] == 20.0
    assert res["tests"] == []
    assert "Syntax error on line 3: invalid syntax" in res["output"]
    assert res["execution_time"] == pytest.approx(0.5)


# ---------------------------------------------------------------------- PrairieLearn

PL_TOP = {"gradable", "score", "message", "output", "tests"}
PL_TEST = {"name", "description", "points", "max_points", "message", "output"}


def test_prairielearn_full(full: Report) -> None:
    res = prairielearn_results(full)
    json.loads(json.dumps(res))
    assert set(res) == PL_TOP
    assert res["gradable"] is True
    assert res["score"] == pytest.approx(1.0)
    assert len(res["tests"]) == len(ITEM_IDS)
    for test, item_id in zip(res["tests"], ITEM_IDS):
        assert set(test) == PL_TEST
        assert test["points"] == test["max_points"] == MAX[item_id]
        assert test["description"] == item_id
        assert test["output"] == f"{item_id} ok"


def test_prairielearn_partial_fraction(partial: Report) -> None:
    res = prairielearn_results(partial)
    json.dumps(res)
    assert res["gradable"] is True
    assert res["score"] == pytest.approx(9.5 / 15.0)
    assert 0.0 <= res["score"] <= 1.0
    assert [t["description"] for t in res["tests"]] == [i for i in ITEM_IDS if i != "accuracy"]
    assert sum(t["points"] for t in res["tests"]) == pytest.approx(9.5)
    layer4 = next(t for t in res["tests"] if t["description"] == "q2_layer4")
    assert layer4["points"] == 0.0 and layer4["max_points"] == 4.0
    assert "4" in layer4["message"] and layer4["output"] == "layer4 is missing"


def test_prairielearn_rejected_not_gradable(rejected: Report) -> None:
    res = prairielearn_results(rejected)
    json.dumps(res)
    assert res["gradable"] is False
    assert res["score"] == 0.0
    assert res["message"] == "Syntax error on line 3: invalid syntax"
    assert "Syntax error on line 3" in res["output"]
    assert res["tests"] == []


def test_prairielearn_zero_max_score(partial: Report) -> None:
    zero = partial.model_copy(update={"score": 0.0, "max_score": 0.0})
    res = prairielearn_results(zero)
    assert res["score"] == 0.0
    json.dumps(res)
