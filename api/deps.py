"""Dependencies shared by the routes: settings, a database session, the file store.

Who is asking (`TaDep`, `TaPageDep`, `ViewerDep`) is api/auth.py's, which builds on these;
this module imports nothing of it.
"""
from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service.settings import ServiceSettings
from storage.db import session_scope
from storage.files import FileStore


# The small dependencies are `async def`: FastAPI runs a plain `def` dependency in the threadpool,
# one hop (a thread handoff and a wake-up of the event loop) each, for an attribute read; an
# upload paid three of them before its route ran (bench/upload_profile.py).
async def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


def get_session(settings: Annotated[ServiceSettings, Depends(get_settings)]) -> Iterator[Session]:
    with session_scope(settings.resolved_database_url()) as session:
        yield session


# scope="function": the session commits when the route returns, before the response is sent. FastAPI's
# default runs a yield dependency's exit after sending, so a TA's override answered 303 and the page it
# led to could read the old score (or the write could fail after "done" was said): tests/api/test_deps.py.
_session = Depends(get_session, scope="function")


async def get_store(settings: Annotated[ServiceSettings, Depends(get_settings)]) -> FileStore:
    return FileStore(settings.var_dir / "files")


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
SessionDep = Annotated[Session, _session]
StoreDep = Annotated[FileStore, Depends(get_store)]
