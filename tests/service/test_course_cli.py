"""`autograder roster links` on a real SQLite database: reissuing every link (which signs the whole
class out) needs --all and a confirmation at a terminal, and is refused without a terminal unless
--yes says so. Run through click's CliRunner (stdin is not a terminal there) and, for the prompt,
as a real process whose stdin is a pseudo-terminal."""
from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from service.cli import main

REPO = Path(__file__).resolve().parents[2]
ROSTER = "student_id,name,email\nA1,Ann Lee,ann@example.edu\nB2,Bo Kim,bo@example.edu\n"


@pytest.fixture
def run(tmp_path: Path):  # noqa: ANN201 - the CLI against a database of its own, with a roster
    env = {"AUTOGRADER_VAR_DIR": str(tmp_path / "var"), "AUTOGRADER_DATABASE_URL": None}

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=stdin, env=env)

    invoke.url = f"sqlite:///{tmp_path / 'var' / 'autograder.sqlite'}"
    invoke.env = env
    (tmp_path / "roster.csv").write_text(ROSTER)
    assert invoke("roster", "import", str(tmp_path / "roster.csv")).exit_code == 0
    return invoke


def generations(url: str) -> dict[str, int]:
    """Each student's link generation: it goes up by one each time a link is issued or revoked."""
    from storage.course import list_students
    from storage.db import session_scope

    with session_scope(url) as session:
        return {s.student_id: s.link_generation for s in list_students(session)}


def test_links_without_ids_or_all_reissue_nothing(run) -> None:  # noqa: ANN001
    before = generations(run.url)
    r = run("roster", "links")
    assert r.exit_code == 2 and "--all" in r.output, r.output
    assert generations(run.url) == before
    r = run("roster", "links", "A1")
    assert r.exit_code == 0 and "A1," in r.output and "B2," not in r.output
    assert generations(run.url) == {"A1": before["A1"] + 1, "B2": before["B2"]}


def test_all_is_refused_without_a_terminal_unless_yes(run) -> None:  # noqa: ANN001
    before = generations(run.url)
    r = run("roster", "links", "--all", stdin="y\n")  # CliRunner's stdin is no terminal: a "y" piped in counts for nothing
    assert r.exit_code == 1 and "no terminal" in r.output and "--yes" in r.output, r.output
    assert generations(run.url) == before
    r = run("roster", "links", "--all", "--yes")
    assert r.exit_code == 0 and "A1," in r.output and "B2," in r.output, r.output
    assert generations(run.url) == {k: v + 1 for k, v in before.items()}


def _at_a_terminal(env: dict[str, str | None], answer: bytes) -> tuple[int, str]:
    """`autograder roster links --all` with a pseudo-terminal as stdin, answering the prompt."""
    full = {k: v for k, v in os.environ.items() if k not in env} | {k: v for k, v in env.items() if v is not None}
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "roster", "links", "--all"], cwd=REPO, env=full,
                            stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(secondary)
    os.write(primary, answer)
    out, err = proc.communicate(timeout=60)
    os.close(primary)
    return proc.returncode, out.decode() + err.decode()


def test_all_asks_at_a_terminal(run) -> None:  # noqa: ANN001
    before = generations(run.url)
    code, output = _at_a_terminal(run.env, b"n\n")
    assert code == 1 and "Reissue the links of all 2 students?" in output and "Aborted" in output, output
    assert generations(run.url) == before
    code, output = _at_a_terminal(run.env, b"y\n")
    assert code == 0 and "A1," in output and "B2," in output, output
    assert generations(run.url) == {k: v + 1 for k, v in before.items()}
