"""`autograder roster ...` and `autograder assignment ...`: a TA's course set-up from the shell.

Each command is a thin call into storage.course; registered on the `autograder` group by service/cli.py.
"""
from __future__ import annotations

from pathlib import Path

import click

from grader.cli import main


def _settings():  # noqa: ANN202 - imported late: `autograder grade` needs none of this
    from service.settings import ServiceSettings

    return ServiceSettings()


def _base_url(base_url: str | None) -> str:
    return base_url or _settings().public_url or "http://127.0.0.1:8000"


def _write_links(links: list, base_url: str | None, out: Path | None) -> None:
    from service.roster import links_csv

    text = links_csv(links, _base_url(base_url))
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        out.chmod(0o600)  # the links sign students in: keep them as private as passwords
        click.echo(f"{len(links)} link(s) written to {out}", err=True)


@main.group()
def roster() -> None:
    """The course roster and the students' personal sign-in links."""


_BASE = click.option("--base-url", help="The service's public address (default AUTOGRADER_PUBLIC_URL, else "
                                        "http://127.0.0.1:8000).")
_OUT = click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
                    help="Write the links CSV (student_id,name,email,link) here instead of stdout.")


@roster.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_BASE
@_OUT
def roster_import(csv_file: Path, base_url: str | None, out: Path | None) -> None:
    """Add or update the students of CSV_FILE (student_id,name,email); print the links issued now.

    Each student without a link gets one; a link is shown only once (its hash is stored).
    """
    from service.roster import RosterError, parse_roster_csv
    from storage.course import import_roster
    from storage.db import session_scope

    try:
        rows = parse_roster_csv(csv_file.read_bytes())
    except RosterError as exc:
        raise click.ClickException(str(exc)) from exc
    with session_scope(_settings().cli_database_url(creates=True)) as session:
        links = import_roster(session, rows=rows)
    click.echo(f"{len(rows)} student(s) on the roster, {len(links)} new link(s)", err=True)
    _write_links(links, base_url, out)


@roster.command("links")
@click.argument("student_ids", nargs=-1)
@click.option("--all", "everyone", is_flag=True, help="Reissue every student's link (signs the whole class out).")
@click.option("--yes", is_flag=True, help="With --all: do not ask (for scripts; needed without a terminal).")
@_BASE
@_OUT
def roster_links(student_ids: tuple[str, ...], everyone: bool, yes: bool, base_url: str | None,
                 out: Path | None) -> None:
    """Issue new links for STUDENT_IDS (or, with --all, everyone); their old links stop working.

    Reissuing every link signs every student out, so it needs --all and a confirmation typed
    at a terminal; without a terminal (a script, a pipe) it needs --yes as well.
    """
    import sys

    from storage.course import get_student, issue_link, list_students
    from storage.db import session_scope

    if everyone and student_ids:
        raise click.UsageError("give student IDs or --all, not both")
    if not everyone and not student_ids:
        raise click.UsageError("name the students whose links to reissue (roster links ID...), or --all "
                               "to reissue every student's link")
    with session_scope(_settings().cli_database_url()) as session:
        students = list_students(session) if everyone else [get_student(session, student_id=s) for s in student_ids]
        if None in students:
            raise click.ClickException("not on the roster: " + ", ".join(s for s, st in zip(student_ids, students)
                                                                           if st is None))
        if everyone and not yes:
            who = f"all {len(students)} students" if len(students) != 1 else "the 1 student"
            question = (f"Reissue the links of {who}? Every old link stops working and "
                        "every student is signed out.")
            if not sys.stdin.isatty():
                raise click.ClickException(f"{question} Refused: there is no terminal to confirm on; "
                                           "add --yes to reissue every link from a script.")
            click.confirm(question, abort=True, err=True)
        links = [issue_link(session, student=st, actor="cli") for st in students]
    _write_links(links, base_url, out)


@roster.command("revoke")
@click.argument("student_ids", nargs=-1, required=True)
def roster_revoke(student_ids: tuple[str, ...]) -> None:
    """Make these students' links (and their signed-in sessions) stop working."""
    from storage.course import get_student, revoke_link
    from storage.db import session_scope

    with session_scope(_settings().cli_database_url()) as session:
        for sid in student_ids:
            st = get_student(session, student_id=sid)
            if st is None:
                raise click.ClickException(f"{sid} is not on the roster")
            revoke_link(session, student=st, actor="cli")
    click.echo(f"revoked {len(student_ids)} link(s)")


@roster.command("list")
def roster_list() -> None:
    """The roster: student_id, name, email and whether the student has a working link."""
    from storage.course import list_students
    from storage.db import session_scope

    with session_scope(_settings().cli_database_url()) as session:
        for st in list_students(session):
            click.echo(f"{st.student_id}\t{st.name}\t{st.email}\t{'link active' if st.link_sha256 else 'no link'}")


@main.group()
def assignment() -> None:
    """The assignment: deadline, late policy, final-submission rule, release of scores."""


def _options(f):  # noqa: ANN001, ANN202 - shared options of create and set
    for opt in reversed([
        click.option("--title"),
        click.option("--deadline", help="ISO 8601, e.g. 2026-12-01T23:59:00+09:00; without an offset it is read in "
                                        "--timezone; '' removes it."),
        click.option("--timezone", help="IANA name the deadline is shown in, e.g. Asia/Seoul (default UTC)."),
        click.option("--late-policy", type=click.Choice(["none", "per-hour", "per-day"]),
                     help="none (default): refuse after the deadline; or a penalty per started hour/day."),
        click.option("--late-penalty", type=float, help="Fraction of the maximum score per hour or day, e.g. 0.1."),
        click.option("--cutoff", "late_cutoff", help="Hard cutoff (ISO 8601) after which nothing is accepted."),
        click.option("--final-rule", type=click.Choice(["last-on-time", "best"]),
                     help="Which submission counts (default last-on-time)."),
        click.option("--release", type=click.Choice(["immediate", "after-deadline"]),
                     help="When students see score and accuracy (structure feedback is immediate)."),
        click.option("--default", "make_default", is_flag=True, help="Make it the assignment the page takes."),
    ]):
        f = opt(f)
    return f


def _configure(name: str, create: bool, **fields) -> None:  # noqa: ANN003
    from storage.course import CourseError, configure_assignment, get_assignment, show_time
    from storage.db import session_scope
    from storage.models import now

    fields = {k: (v.replace("-", "_") if isinstance(v, str) and k in ("late_policy", "final_rule", "release") else v)
              for k, v in fields.items()}
    with session_scope(_settings().cli_database_url(creates=True)) as session:
        if create and get_assignment(session, name=name) is not None:
            raise click.ClickException(f"an assignment named {name!r} exists already: use `autograder assignment set`")
        try:
            a = configure_assignment(session, name=name, create=create, **fields)
        except CourseError as exc:
            raise click.ClickException(str(exc)) from exc
        deadline = show_time(a.deadline, a.timezone) if a.deadline else "none"
        if fields.get("deadline") and a.deadline is not None and a.deadline <= now():
            click.echo(f"warning: the deadline {deadline} is in the past: uploads are late (or refused) from now "
                       "on. Check the date and the zone (--timezone; a time without an offset is read in it).",
                       err=True)
        click.echo(f"{a.name}: deadline {deadline} · late policy {a.late_policy}"
                   f"{f' {a.late_penalty:g}' if a.late_policy != 'none' else ''} · final rule {a.final_rule} · "
                   f"release {a.release}{' · default' if a.is_default else ''}")


@assignment.command("create")
@click.argument("name")
@_options
def assignment_create(name: str, **fields) -> None:  # noqa: ANN003
    """Create assignment NAME."""
    _configure(name, True, **fields)


@assignment.command("set")
@click.argument("name")
@_options
def assignment_set(name: str, **fields) -> None:  # noqa: ANN003
    """Change assignment NAME (only the options given)."""
    _configure(name, False, **fields)


@assignment.command("list")
def assignment_list() -> None:
    from storage.course import list_assignments, show_time
    from storage.db import session_scope

    with session_scope(_settings().cli_database_url()) as session:
        for a in list_assignments(session):
            cutoff = f"cutoff {show_time(a.late_cutoff, a.timezone)}" if a.late_cutoff else "no cutoff"
            click.echo(f"{a.name}\t{show_time(a.deadline, a.timezone) if a.deadline else 'no deadline'}\t"
                       f"{a.late_policy}{f' {a.late_penalty:g}' if a.late_policy != 'none' else ''}\t{cutoff}\t"
                       f"{a.final_rule}\t{a.release}{chr(9) + 'default' if a.is_default else ''}")


@assignment.command("extend")
@click.argument("name")
@click.argument("student_id")
@click.option("--until", required=True, help="ISO 8601: this student's own deadline.")
def assignment_extend(name: str, student_id: str, until: str) -> None:
    """Give STUDENT_ID an extension on assignment NAME."""
    from storage.course import CourseError, get_assignment, get_student, set_extension, show_time
    from storage.db import session_scope

    with session_scope(_settings().cli_database_url()) as session:
        a, st = get_assignment(session, name=name), get_student(session, student_id=student_id)
        if a is None or st is None:
            raise click.ClickException(f"no assignment {name!r}" if a is None else f"{student_id} is not on the roster")
        try:
            ext = set_extension(session, assignment=a, student=st, until=until, actor="cli")
        except CourseError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{student_id}: extension on {name} until {show_time(ext.until, a.timezone)}")
