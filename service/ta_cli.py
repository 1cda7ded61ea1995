"""`autograder ta ...`: the TAs' accounts for the web pages (name and password), from the shell.

Each command is a thin call into storage.ta_accounts; registered on the `autograder` group by
service/cli.py. Passwords come from a hidden prompt or stdin, never from the command line
(where `ps` and the shell history would keep them).
"""
from __future__ import annotations

import sys

import click

from grader.cli import main

_STDIN = click.option("--password-stdin", is_flag=True,
                      help="Read the password from the first line of stdin (for scripts) instead of a prompt.")


def _database_url(*, creates: bool = False) -> str:  # imported late: `autograder grade` needs none of this
    from service.settings import ServiceSettings

    return ServiceSettings().cli_database_url(creates=creates)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _call(fn, *, creates: bool = False, **kwargs):  # noqa: ANN001, ANN003, ANN202 - one storage call in a session, refusals as CLI errors
    from storage.db import session_scope
    from storage.ta_accounts import TaAccountError

    try:
        with session_scope(_database_url(creates=creates)) as session:
            return fn(session, **kwargs)
    except TaAccountError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def ta() -> None:
    """TA accounts: sign in to the web pages at /ta/signin with a name and password."""


@ta.command("create")
@click.argument("name")
@_STDIN
def ta_create(name: str, password_stdin: bool) -> None:
    """Make an account NAME; the password (at least 10 characters) is stored only as its argon2 hash."""
    from storage.ta_accounts import create_ta_account

    _call(create_ta_account, creates=True, name=name, password=_password(password_stdin))
    click.echo(f"TA account {name} created; sign in at /ta/signin")


@ta.command("passwd")
@click.argument("name")
@_STDIN
def ta_passwd(name: str, password_stdin: bool) -> None:
    """Set NAME's password; sessions signed in with the old one end."""
    from storage.ta_accounts import set_ta_password

    _call(set_ta_password, name=name, password=_password(password_stdin))
    click.echo(f"password of {name} changed; its sessions have ended")


@ta.command("disable")
@click.argument("name")
def ta_disable(name: str) -> None:
    """Stop NAME signing in; its signed-in sessions end now."""
    from storage.ta_accounts import disable_ta_account

    _call(disable_ta_account, name=name)
    click.echo(f"TA account {name} disabled")


@ta.command("enable")
@click.argument("name")
def ta_enable(name: str) -> None:
    """Let a disabled account NAME sign in again (with its password; `ta passwd` for a new one)."""
    from storage.ta_accounts import enable_ta_account

    _call(enable_ta_account, name=name)
    click.echo(f"TA account {name} enabled")


@ta.command("list")
def ta_list() -> None:
    """The accounts: name, active or disabled, created, last sign-in (UTC)."""
    from storage.ta_accounts import list_ta_accounts

    def rows(session) -> list[str]:  # noqa: ANN001
        return [f"{a.name}\t{'disabled' if a.disabled else 'active'}\tcreated {a.created_at:%Y-%m-%d %H:%M} UTC\t"
                f"last sign-in {a.last_sign_in_at.strftime('%Y-%m-%d %H:%M UTC') if a.last_sign_in_at else 'never'}"
                for a in list_ta_accounts(session)]

    for line in _call(rows):
        click.echo(line)
