"""What the TA's CLI says (issue 26, item 11): a deadline set in the past is warned about, `assignment
list` shows the late cutoff, and a command whose database no setting chose says which file it uses
or creates."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

import service.cli  # noqa: F401 - registers the commands on the group
from grader.cli import main
from service.settings import ServiceSettings, database_notice


def _run(tmp_path: Path, *args: str):  # noqa: ANN202
    return CliRunner(env={"AUTOGRADER_VAR_DIR": str(tmp_path), "AUTOGRADER_DATABASE_URL": None}).invoke(main, list(args))


def test_a_deadline_in_the_past_is_warned_about_and_the_list_shows_the_cutoff(tmp_path: Path) -> None:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat()
    r = _run(tmp_path, "assignment", "set", "resnet50", "--deadline", past)
    assert r.exit_code == 0, r.output
    assert "is in the past" in r.stderr
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    cutoff = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    r = _run(tmp_path, "assignment", "set", "resnet50", "--deadline", future, "--late-policy", "per-day",
             "--late-penalty", "0.1", "--cutoff", cutoff, "--timezone", "Asia/Seoul")
    assert r.exit_code == 0 and "in the past" not in r.stderr, r.output
    listed = _run(tmp_path, "assignment", "list")
    assert listed.exit_code == 0 and "cutoff 20" in listed.stdout and "Asia/Seoul" in listed.stdout, listed.output
    assert "per_day 0.1" in listed.stdout


def test_a_command_says_which_database_when_no_setting_chose_it(tmp_path: Path) -> None:
    default = tmp_path / "var"
    settings = ServiceSettings(var_dir=default, database_url=None)
    creating = database_notice(settings, default_var=default)
    assert creating and str(default / "autograder.sqlite") in creating and "creating an empty one" in creating
    default.mkdir()
    (default / "autograder.sqlite").write_bytes(b"")
    using = database_notice(settings, default_var=default)
    assert using and "using the database" in using and str(default / "autograder.sqlite") in using
    assert database_notice(ServiceSettings(var_dir=tmp_path / "elsewhere", database_url=None), default_var=default) is None
    assert database_notice(ServiceSettings(var_dir=default, database_url="sqlite:///x.db"), default_var=default) is None


def test_a_command_that_reads_refuses_to_make_an_empty_database(tmp_path: Path) -> None:
    """An empty list from a database made just now would read as "the service has none"."""
    default = tmp_path / "var"
    settings = ServiceSettings(var_dir=default, database_url=None)
    with pytest.raises(SystemExit, match="no database at .*nothing to read.*AUTOGRADER_VAR_DIR"):
        settings.cli_database_url(default_var=default)
    assert not (default / "autograder.sqlite").exists()
    url = settings.cli_database_url(creates=True, default_var=default)  # e.g. `assignment set`
    assert url.endswith(str(default / "autograder.sqlite"))
