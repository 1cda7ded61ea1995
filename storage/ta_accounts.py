"""TA credentials: accounts that sign in to the web pages, and the REST bearer tokens for scripts.

Passwords are hashed with pwdlib's recommended argon2id (the hash carries its own salt and
cost, so a later pwdlib may raise the cost and old hashes are upgraded at the next sign-in).
Queries are keyword-only functions on a session; the CLI and the sign-in route call them.
"""
from __future__ import annotations

import re
import secrets
from functools import cache

from pwdlib import PasswordHash
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.course import token_sha256
from storage.models import ApiToken, TaAccount, now

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a cap keeps a huge form from costing CPU
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")  # shown in the audit log as who did what


class TaAccountError(ValueError):
    """A refusal with a message for the TA at the shell."""


@cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


@cache
def _dummy_hash() -> str:
    """What an unknown name is checked against, so that it costs what a known one costs."""
    return _hasher().hash(secrets.token_urlsafe(16))


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise TaAccountError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise TaAccountError(f"The password must be at most {MAX_PASSWORD_LENGTH} characters long.")
    return password


def get_ta_account(session: Session, *, name: str) -> TaAccount | None:
    return session.scalars(select(TaAccount).where(TaAccount.name == name)).first()


def ta_account_by_pk(session: Session, *, pk: int) -> TaAccount | None:
    return session.get(TaAccount, pk)


def list_ta_accounts(session: Session) -> list[TaAccount]:
    return list(session.scalars(select(TaAccount).order_by(TaAccount.name)))


def _existing(session: Session, name: str) -> TaAccount:
    account = get_ta_account(session, name=name)
    if account is None:
        raise TaAccountError(f"There is no TA account named {name!r}.")
    return account


def create_ta_account(session: Session, *, name: str, password: str) -> TaAccount:
    """A new, enabled account; the password is stored only as its argon2 hash."""
    if not NAME.fullmatch(name):
        raise TaAccountError("A TA name is 1 to 100 letters, digits and . _ @ - (starting with a letter or digit).")
    if get_ta_account(session, name=name) is not None:
        raise TaAccountError(f"A TA account named {name!r} exists already.")
    account = TaAccount(name=name, password_hash=_hasher().hash(_checked_password(password)), generation=0,
                        disabled=False)
    session.add(account)
    session.flush()
    return account


def set_ta_password(session: Session, *, name: str, password: str) -> TaAccount:
    """A new password; every session signed in with the old one ends (the generation moves on)."""
    account = _existing(session, name)
    account.password_hash = _hasher().hash(_checked_password(password))
    account.generation += 1
    session.flush()
    return account


def disable_ta_account(session: Session, *, name: str) -> TaAccount:
    """No more sign-ins, and the account's signed-in sessions end now."""
    account = _existing(session, name)
    account.disabled = True
    account.generation += 1
    session.flush()
    return account


def enable_ta_account(session: Session, *, name: str) -> TaAccount:
    account = _existing(session, name)
    account.disabled = False
    session.flush()
    return account


def authenticate_ta(session: Session, *, name: str, password: str) -> TaAccount | None:
    """The account if the name and password match an enabled account, else None.

    Unknown names, wrong passwords and disabled accounts look the same to the caller and
    take the same time (an unknown name is checked against a dummy hash), so a guesser does
    not learn which names exist.
    """
    account = get_ta_account(session, name=name) if len(name) <= 100 else None
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    valid, new_hash = _hasher().verify_and_update(password, account.password_hash if account else _dummy_hash())
    if account is None or not valid or account.disabled:
        return None
    if new_hash is not None:  # pwdlib's parameters moved on since this hash was made
        account.password_hash = new_hash
    account.last_sign_in_at = now()
    session.flush()
    return account


# ---------------------------------------------------------------- REST bearer tokens

def create_api_token(session: Session, *, name: str) -> str:
    """A new token named `name`, returned once: only its sha256 is stored, so it cannot be shown again."""
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise TaAccountError(f"A token named {name!r} exists already.")
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_sha256=token_sha256(token)))
    session.flush()
    return token


def api_token_name(session: Session, *, token: str) -> str | None:
    """The name of the REST token `token`, or None; tokens are stored as sha256 only."""
    return session.scalar(select(ApiToken.name).where(ApiToken.token_sha256 == token_sha256(token)))


def list_api_tokens(session: Session) -> list[ApiToken]:
    """Name and creation time are what a TA may see; the token itself exists only as its hash."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def revoke_api_token(session: Session, *, name: str) -> None:
    """Delete the token: a script still using it gets 403 from its next request on."""
    token = session.scalars(select(ApiToken).where(ApiToken.name == name)).first()
    if token is None:
        raise TaAccountError(f"There is no token named {name!r}.")
    session.delete(token)
    session.flush()
