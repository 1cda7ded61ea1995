"""Alembic environment: the database URL comes from the caller (storage.migrate) or the settings."""
from __future__ import annotations

from pathlib import Path

from alembic import context
from sqlalchemy import create_engine

from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from service.settings import ServiceSettings

    return ServiceSettings().resolved_database_url()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # storage.migrate holds the lock and the transaction
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = _url()
    if url.startswith("sqlite:///"):  # a fresh var/ folder: make it, as the service would
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run()
