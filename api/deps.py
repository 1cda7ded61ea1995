"""Dependencies shared by the routes: settings, a database session, the TA token."""
from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.settings import ServiceSettings
from storage.course import token_sha256
from storage.db import session_scope
from storage.files import FileStore
from storage.models import ApiToken

__all__ = ["token_sha256"]  # api/cli.py imports it from here


def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


def get_session(settings: Annotated[ServiceSettings, Depends(get_settings)]) -> Iterator[Session]:
    with session_scope(settings.resolved_database_url()) as session:
        yield session


def get_store(settings: Annotated[ServiceSettings, Depends(get_settings)]) -> FileStore:
    return FileStore(settings.var_dir / "files")


_bearer = HTTPBearer(auto_error=False)


def ta_name(session: Session, token: str) -> str | None:
    """The token's name; tokens are stored hashed (`autograder token create NAME`)."""
    return session.scalar(select(ApiToken.name).where(ApiToken.token_sha256 == token_sha256(token)))


def require_ta(session: Annotated[Session, Depends(get_session)],
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    if credentials is None:
        raise HTTPException(401, "This route needs a TA token: Authorization: Bearer <token>.",
                            headers={"WWW-Authenticate": "Bearer"})
    name = ta_name(session, credentials.credentials)
    if name is None:
        raise HTTPException(403, "This token is not valid.")
    return name


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
StoreDep = Annotated[FileStore, Depends(get_store)]
TaDep = Annotated[str, Depends(require_ta)]
