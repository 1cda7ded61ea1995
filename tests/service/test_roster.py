"""Roster CSV in and sign-in links out: clear words for a bad roster, safe cells for the mail merge."""
from __future__ import annotations

import csv
import io

import pytest

from service.roster import RosterError, links_csv, parse_roster_csv
from storage.course import IssuedLink


def test_roster_rows_by_header_with_bom_and_extra_columns() -> None:
    data = "\ufeffemail,student_id,name,section\nann@x.edu,A1,Ann,1\n,,,\nbo@x.edu, B2 ,Bo,2\n".encode()
    assert parse_roster_csv(data) == [{"student_id": "A1", "name": "Ann", "email": "ann@x.edu"},
                                      {"student_id": "B2", "name": "Bo", "email": "bo@x.edu"}]


@pytest.mark.parametrize("data, words", [
    (b"id,name\n1,a\n", "student_id,name,email"),
    (b"student_id,name,email\nA1,a,\nA1,b,\n", "line 3: student A1 appears twice"),
    (b"student_id,name,email\n../etc,a,\n", "line 2"),
    (b"student_id,name,email\n", "no students"),
    ("student_id\nA\u00e91\n".encode("latin-1"), "not UTF-8"),
])
def test_bad_rosters_are_refused_in_words(data: bytes, words: str) -> None:
    with pytest.raises(RosterError, match=words):
        parse_roster_csv(data)


def test_links_csv_neutralises_formulas() -> None:
    text = links_csv([IssuedLink("A1", "=HYPERLINK(\"x\")", "a@x.edu", "tok")], "https://g.example.edu/")
    row = list(csv.DictReader(io.StringIO(text)))[0]
    assert row["name"].startswith("'=") and row["link"] == "https://g.example.edu/signin/tok"
