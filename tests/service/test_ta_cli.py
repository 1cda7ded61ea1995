"""`autograder ta ...` and `autograder token list/revoke` on a real SQLite database (click's CliRunner).

Passwords come from a hidden prompt with confirmation or from stdin, are refused when short,
and are stored only as argon2 hashes; a token listing never shows a token.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from service.cli import main

PASSWORD = "correct horse battery"


@pytest.fixture
def run(tmp_path: Path):  # noqa: ANN201 - the CLI against a database of its own
    env = {"AUTOGRADER_VAR_DIR": str(tmp_path / "var"), "AUTOGRADER_DATABASE_URL": None}

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=stdin, env=env)

    invoke.url = f"sqlite:///{tmp_path / 'var' / 'autograder.sqlite'}"
    return invoke


def account(url: str, name: str):  # noqa: ANN201
    from storage.db import session_scope
    from storage.ta_accounts import get_ta_account

    with session_scope(url) as session:
        return get_ta_account(session, name=name)


def test_create_from_the_prompt_stores_an_argon2_hash(run) -> None:  # noqa: ANN001
    r = run("ta", "create", "alice", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert r.exit_code == 0, r.output
    assert PASSWORD not in r.output  # the prompt hides it
    stored = account(run.url, "alice")
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    assert stored.generation == 0 and not stored.disabled


def test_create_refuses_a_short_or_mismatched_password_and_a_taken_name(run) -> None:  # noqa: ANN001
    r = run("ta", "create", "alice", "--password-stdin", stdin="too short\n")
    assert r.exit_code != 0 and "at least 10 characters" in r.output and account(run.url, "alice") is None
    r = run("ta", "create", "alice", stdin=f"{PASSWORD}\nsomething else entirely\n")
    assert r.exit_code != 0 and account(run.url, "alice") is None  # the confirmation did not match
    assert run("ta", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n").exit_code == 0
    r = run("ta", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.exit_code != 0 and "exists already" in r.output
    r = run("ta", "create", "bad name", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.exit_code != 0 and "A TA name is" in r.output


def test_passwd_and_disable_move_the_generation_on(run) -> None:  # noqa: ANN001
    from storage.db import session_scope
    from storage.ta_accounts import authenticate_ta

    assert run("ta", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n").exit_code == 0
    r = run("ta", "passwd", "alice", "--password-stdin", stdin="a brand new password\n")
    assert r.exit_code == 0, r.output
    assert account(run.url, "alice").generation == 1
    with session_scope(run.url) as session:
        assert authenticate_ta(session, name="alice", password=PASSWORD) is None
        assert authenticate_ta(session, name="alice", password="a brand new password") is not None
    assert run("ta", "passwd", "nobody", "--password-stdin", stdin=PASSWORD + "\n").exit_code != 0
    assert run("ta", "disable", "alice").exit_code == 0
    stored = account(run.url, "alice")
    assert stored.disabled and stored.generation == 2
    with session_scope(run.url) as session:
        assert authenticate_ta(session, name="alice", password="a brand new password") is None
    assert "alice\tdisabled\tcreated " in run("ta", "list").output
    assert run("ta", "enable", "alice").exit_code == 0
    listing = run("ta", "list").output
    assert "alice\tactive\tcreated " in listing and "last sign-in " in listing


def test_token_list_and_revoke(run) -> None:  # noqa: ANN001
    tokens = {name: run("token", "create", name).output.strip() for name in ("grading-script", "canvas-sync")}
    listing = run("token", "list").output
    assert [line.split("\t")[0] for line in listing.splitlines()] == ["canvas-sync", "grading-script"]
    assert all(value not in listing for value in tokens.values())
    assert run("token", "revoke", "canvas-sync").exit_code == 0
    assert [line.split("\t")[0] for line in run("token", "list").output.splitlines()] == ["grading-script"]
    r = run("token", "revoke", "canvas-sync")
    assert r.exit_code != 0 and "no token named" in r.output


def test_token_create_prints_a_token_once_and_refuses_a_taken_name(run) -> None:  # noqa: ANN001
    from storage.db import session_scope
    from storage.ta_accounts import api_token_name

    made = run("token", "create", "scripts")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    with session_scope(run.url) as s:
        assert api_token_name(s, token=token) == "scripts" and api_token_name(s, token=token + "x") is None
    again = run("token", "create", "scripts")
    assert again.exit_code != 0 and "exists already" in again.output
    with session_scope(run.url) as s:
        assert api_token_name(s, token=token) == "scripts"  # the first token still works
