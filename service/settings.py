"""The service's settings (prefix AUTOGRADER_): database, broker, sign-in, limits, the course.

The engine's own settings stay in grader/settings.py (it builds GradeConfig); the api,
storage and worker packages read this subclass, so the engine never depends on them.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import field_validator

from grader.sandbox import PROJECT_ROOT
from grader.settings import Settings

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "dev", "test", ""}


class ServiceSettings(Settings):
    var_dir: Path = PROJECT_ROOT / "var"  # database, uploaded files, embedded broker, session key
    database_url: str | None = None  # default: SQLite in var_dir; postgresql+psycopg://... works
    broker_url: str | None = None  # default: an embedded SQLite broker in var_dir (no server)
    skip_training: bool = False  # the service grades structure only (e.g. no data on this host)
    # A file that sleeps at import holds a worker this long at most, so a few of them at the
    # deadline cost the others seconds, not minutes (the import includes starting torch).
    import_timeout_s: float | None = 10.0
    # All checks of one upload: import, structure probes and exporting the model as data
    # (torch.export: a few seconds on an idle CPU, more under load).
    check_timeout_s: float = 40.0
    access_code: str | None = None  # open self-check mode: students must type it when set
    max_upload_kb: int = 256
    max_zip_entries: int = 500
    max_zip_mb: int = 64
    student_rate_per_hour: int = 30  # uploads per signed-in student (or typed ID in self-check mode)
    client_rate_per_minute: int = 60  # requests that upload or sign in, per client address
    # Failed TA password sign-ins per 15 minutes, per account name and per client address
    # (a lab behind one NAT shares an address); past either, sign-in waits.
    ta_signin_failures_per_name: int = 10
    ta_signin_failures_per_address: int = 30
    # Live progress streams (SSE) open at once, per submission and per client address (a lab
    # behind one NAT shares an address); over either the page refreshes itself instead.
    live_streams_per_submission: int = 8
    live_streams_per_client: int = 32
    rate_limit_storage: str = "memory://"  # a `limits` storage URI, e.g. redis://host:6379/3 for many API hosts
    heartbeat_timeout_s: float = 120.0  # a running grade silent this long is re-sent
    recovery_interval_s: float = 30.0
    # A queued job sent this long ago, unclaimed while the broker's queue is empty, was lost by
    # the broker (e.g. Redis restarted without persistence): it is sent again.
    resend_after_s: float = 300.0
    # Signs the session cookies and CSRF tokens. Unset: a random key kept in var_dir/secret_key,
    # shared by this host's processes; set it (the same value) when API processes run on several hosts.
    secret_key: str | None = None
    https: bool = False  # behind HTTPS: cookies get the Secure flag
    session_max_age_s: int = 14 * 24 * 3600
    # Workers on several hosts: the sha256 their checkpoint and data must have (worker/host.py).
    checkpoint_sha256: str | None = None
    data_sha256: str | None = None
    public_url: str | None = None  # e.g. https://grader.example.edu: the start of the sign-in links
    assignment: str | None = None  # the assignment the page takes uploads for; default: the default one
    # Similarity report: a folder of known sources (e.g. files found online) every submission is
    # compared with, the course's handed-out skeleton (its text is nobody's copying; the reference
    # solution is always excluded too), and the score from which a pair is flagged.
    similarity_known_dir: Path | None = None
    similarity_skeleton: Path | None = None
    similarity_threshold: float = 0.5

    @field_validator("secret_key")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        if value is not None and (value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 16):
            raise ValueError("AUTOGRADER_SECRET_KEY must be a long random value (e.g. `python -c "
                             "'import secrets; print(secrets.token_urlsafe(32))'`)")
        return value

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'autograder.sqlite'}"

    def resolved_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.var_dir / 'broker.sqlite'}"

    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # written aside then linked: a reader never sees half a key
            tmp = path.with_name(f".secret_key.{secrets.token_hex(6)}")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            try:
                os.link(tmp, path)  # of several processes starting at once, the first key wins
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip()
