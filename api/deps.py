"""Dependencies shared by the routes: settings, a database session, the TA token."""
from __future__ import annotations

import hashlib
from typing import Annotated, Iterator

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.settings import Settings
from storage.db import session_scope
from storage.files import FileStore
from storage.models import ApiToken


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(settings: Annotated[Settings, Depends(get_settings)]) -> Iterator[Session]:
    with session_scope(settings.resolved_database_url()) as session:
        yield session


def get_store(settings: Annotated[Settings, Depends(get_settings)]) -> FileStore:
    return FileStore(settings.var_dir / "files")


_bearer = HTTPBearer(auto_error=False)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def require_ta(session: Annotated[Session, Depends(get_session)],
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The token's name; tokens are stored hashed (`autograder token create NAME`)."""
    if credentials is None:
        raise HTTPException(401, "This route needs a TA token: Authorization: Bearer <token>.",
                            headers={"WWW-Authenticate": "Bearer"})
    row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == token_sha256(credentials.credentials))).first()
    if row is None:
        raise HTTPException(403, "This token is not valid.")
    return row.name


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
StoreDep = Annotated[FileStore, Depends(get_store)]
TaDep = Annotated[str, Depends(require_ta)]
