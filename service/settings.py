"""The service's settings (prefix AUTOGRADER_): database, broker, sign-in, limits, the course.

The engine's own settings stay in grader/settings.py (it builds GradeConfig); the api,
storage and worker packages read this subclass, so the engine never depends on them.
"""
from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from pydantic import field_validator

from grader.sandbox import PROJECT_ROOT
from grader.settings import Settings
from storage.papers import ReportItem, parse_items

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
    # The grading worker's CPU weight beside the API's (cgroup v2 cpu.weight scale, default 100
    # for everything else; v1 cpu.shares get weight * 1024 / 100): `serve` puts the whole worker
    # in a group with it, so a rush's uploads are answered before grading gets the CPU.
    worker_cpu_weight: int = 25
    rate_limit_storage: str = "memory://"  # a `limits` storage URI, e.g. redis://host:6379/3 for many API hosts
    heartbeat_timeout_s: float = 120.0  # a running grade silent this long is re-sent
    recovery_interval_s: float = 30.0
    # A queued job sent this long ago, unclaimed while the broker's queue is empty, was lost by
    # the broker (e.g. Redis restarted without persistence): it is sent again.
    resend_after_s: float = 300.0
    # Signs the session cookies and CSRF tokens. Unset: a random key kept in var_dir/secret_key,
    # shared by this host's processes; set it (the same value) when API processes run on several hosts.
    secret_key: str | None = None
    https: bool = False  # always give cookies the Secure flag (they get it anyway on a request made over HTTPS)
    # The reverse proxy whose X-Forwarded-For/-Proto are believed (IPs or networks, comma
    # separated; the compose `tls` profile's Caddy is 172.28.0.10). Empty: nobody (api/proxy.py).
    trusted_proxies: str = ""
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
    similarity_threshold: float | None = None  # None: the engine's tuned default (similarity/report.py)
    # The reports' similarity leaves out the course's own text (slides, template); None: the
    # course's copy in similarity/report_common.txt.
    report_common_text: Path | None = None
    # LMS launches (LTI 1.3). The tool's RSA key signs its service requests (grades, roster) and is
    # published at /lti/jwks; unset, one is made once in var_dir/lti_private_key.pem, shared by
    # this host's processes (set the same PEM on every API host).
    lti_private_key: str | None = None
    # A launch by an LMS user who is not on the roster (by LMS id, email or SIS id): refused with
    # a page saying the TA must import the roster, unless this lets the launch add the student.
    lti_create_students: bool = False
    # An Instructor or TA launch signs in as a TA account linked to that LMS user (made at the
    # first launch); False: such launches are refused and TAs sign in with a password.
    lti_instructors_are_tas: bool = True
    lti_nonce_lifetime_s: int = 600  # from the OIDC login to the launch it allows
    # A grade the LMS did not take is retried after this, doubling per failure up to the cap; never dropped.
    lti_passback_backoff_s: float = 30.0
    lti_passback_backoff_max_s: float = 3600.0

    # The report (a PDF beside the code, README "Reports"): the most one may be, and the manual
    # rubric items a TA grades it by (NAME:POINTS, comma separated; empty: feedback only, no points).
    max_report_mb: int = 10
    report_items: str = "report:10"
    # The LMS grade adds the report's points once a TA has graded every report item (False: the code only).
    lti_include_report: bool = True
    paper_poll_s: float = 1.0  # how often a worker looks for reports to check (they are checked in seconds)
    paper_stale_s: float = 120.0  # a report check silent this long is taken again by another worker

    @field_validator("secret_key")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        if value is not None and (value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 16):
            raise ValueError("AUTOGRADER_SECRET_KEY must be a long random value (e.g. `python -c "
                             "'import secrets; print(secrets.token_urlsafe(32))'`)")
        return value

    @field_validator("report_items")
    @classmethod
    def _report_items(cls, value: str) -> str:
        parse_items(value)  # a typo fails at start, not at the first TA's mark
        return value

    def report_item_list(self) -> list[ReportItem]:
        return parse_items(self.report_items)

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'autograder.sqlite'}"

    def cli_database_url(self, *, creates: bool = False, default_var: Path | None = None) -> str:
        """The database a CLI command works on; said on stderr when no setting chose it (see database_notice).

        Only a command that makes something (`creates`: an assignment, a roster, a token, an
        account, a platform) may start an empty database there; one that reads, or changes what
        must exist already, refuses instead: an empty list from a database made just now would
        read as "the service has none"."""
        notice = database_notice(self, default_var or PROJECT_ROOT / "var")
        path = self.var_dir / "autograder.sqlite"
        if notice and not creates and not path.exists():
            raise SystemExit(f"autograder: no database at {path} (AUTOGRADER_VAR_DIR and AUTOGRADER_DATABASE_URL "
                             "are not set), so there is nothing to read: set AUTOGRADER_VAR_DIR to the service's "
                             "var folder. Nothing was created.")
        if notice:
            print(notice, file=sys.stderr)
        return self.resolved_database_url()

    def resolved_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.var_dir / 'broker.sqlite'}"

    def resolved_lti_private_key(self) -> str:
        """The tool's RSA private key (PEM): the setting, else var_dir/lti_private_key.pem, made once."""
        if self.lti_private_key:
            return self.lti_private_key
        path = self.var_dir / "lti_private_key.pem"
        if not path.exists():
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa

            pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            _write_once(path, pem.decode())
        return path.read_text()

    def lti_key_here(self) -> bool:
        """Whether this host has the tool's LTI key (set, or made in its var_dir): a worker on
        another host without it must not make a key of its own, which the LMS would not know."""
        return bool(self.lti_private_key) or (self.var_dir / "lti_private_key.pem").exists()

    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if not path.exists():
            _write_once(path, secrets.token_urlsafe(48))
        return path.read_text().strip()


def _write_once(path: Path, text: str) -> None:
    """Write a key file readable by its owner only; of several processes at once, the first wins.

    Written aside then linked, so that a reader never sees half a key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    tmp.write_text(text)
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def database_notice(settings: ServiceSettings, default_var: Path = PROJECT_ROOT / "var") -> str | None:
    """What a CLI command says when neither AUTOGRADER_VAR_DIR nor AUTOGRADER_DATABASE_URL chose its
    database: which file it uses, or that it creates an empty one there (a TA whose service runs with
    another var folder would otherwise import a roster nobody sees, without a word). None when set."""
    if settings.database_url is not None or settings.var_dir != default_var:
        return None
    path = settings.var_dir / "autograder.sqlite"
    if path.exists():
        return (f"autograder: using the database {path} (AUTOGRADER_VAR_DIR is not set; set it to the "
                "service's var folder if the service keeps its data elsewhere).")
    return (f"autograder: no database at {path}: creating an empty one there (AUTOGRADER_VAR_DIR and "
            "AUTOGRADER_DATABASE_URL are not set). If the service keeps its data elsewhere, set "
            "AUTOGRADER_VAR_DIR to that folder and run the command again.")
