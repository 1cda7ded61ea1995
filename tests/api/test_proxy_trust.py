"""Behind the `tls` profile's proxy: X-Forwarded-For/-Proto believed from the trusted proxy only.

A real uvicorn (started as the compose file and `autograder serve` start it, with uvicorn's own
proxy handling off) and real HTTP from two loopback source addresses: 127.0.0.2 is the proxy
the setting names, 127.0.0.3 a client that forges the headers.
"""
from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import REPO, Service, free_port

PROXY, STRANGER = "127.0.0.2", "127.0.0.3"


def _api(tmp_path: Path, trusted: str) -> Service:
    var = tmp_path / "var"
    var.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOGRADER_")}
    env.update({"PYTHONPATH": str(REPO), "AUTOGRADER_VAR_DIR": str(var), "AUTOGRADER_SKIP_TRAINING": "true",
                "AUTOGRADER_CLIENT_RATE_PER_MINUTE": "2", "AUTOGRADER_TRUSTED_PROXIES": trusted})
    return Service(var_dir=var, env=env, port=free_port())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Service]:
    svc = _api(tmp_path, PROXY)
    try:
        svc.start_api()
        yield svc
    finally:
        svc.stop()


def _from(svc: Service, source: str) -> httpx.Client:
    """A client whose connections leave from `source` (any 127.x address is this host's)."""
    return httpx.Client(base_url=svc.url, timeout=30, follow_redirects=False,
                        transport=httpx.HTTPTransport(local_address=source))


def _signin(client: httpx.Client, path: str, forwarded_for: str, proto: str = "http") -> httpx.Response:
    return client.get(path, headers={"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": proto})


def test_the_per_address_limit_sees_forwarded_clients_only_through_the_trusted_proxy(api: Service) -> None:
    bogus = "/signin/" + "x" * 32  # counted by the sign-in limit (2 a minute here), then refused 403
    with _from(api, STRANGER) as stranger:
        # Forged headers from a client: three "different" students are one address, the third refused.
        codes = [_signin(stranger, bogus, f"10.9.0.{i}").status_code for i in (1, 2, 3)]
        assert codes == [403, 403, 429]
    with _from(api, PROXY) as proxy:
        # Through the proxy: two real students, each with their own two a minute.
        codes = [_signin(proxy, bogus, ip).status_code for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2")]
        assert codes == [403, 403, 403, 403]
        assert _signin(proxy, bogus, "10.0.0.1").status_code == 429  # and each is still limited
        # A client's own X-Forwarded-For in front of the proxy's entry does not choose the address:
        # the proxy's rightmost entry (the address it saw) counts.
        assert _signin(proxy, bogus, "10.0.0.3, 10.0.0.1").status_code == 429


def _cookies(response: httpx.Response) -> dict[str, str]:
    """name -> its Set-Cookie line, lower-cased."""
    return {line.split("=", 1)[0]: line.lower() for line in response.headers.get_list("set-cookie")}


def _link(svc: Service, tmp_path: Path) -> str:
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,email\ns001,Ada,ada@example.edu\n")
    out = subprocess.run([sys.executable, "-m", "service.cli", "roster", "import", str(roster),
                          "--base-url", svc.url], cwd=REPO, env=svc.env, capture_output=True, text=True, check=True)
    row = next(r for r in csv.DictReader(io.StringIO(out.stdout[out.stdout.index("student_id"):])))
    return row["link"].removeprefix(svc.url)


def test_cookies_are_secure_when_the_trusted_proxy_says_https(api: Service, tmp_path: Path) -> None:
    link = _link(api, tmp_path)
    with _from(api, PROXY) as proxy, _from(api, STRANGER) as stranger:
        over_https = _cookies(_signin(proxy, link, "10.0.0.5", "https"))
        assert "; secure" in over_https["autograder_session"]
        assert "; secure" in _cookies(proxy.get("/ta/signin", headers={"X-Forwarded-Proto": "https"}))["autograder_csrf"]
        # Plain HTTP through the proxy, or a forged scheme from a stranger: no Secure flag (a
        # Secure cookie over http would never come back, and the stranger's word is not taken).
        assert "; secure" not in _cookies(proxy.get("/ta/signin", headers={"X-Forwarded-Proto": "http"}))["autograder_csrf"]
        forged = _cookies(stranger.get("/ta/signin", headers={"X-Forwarded-Proto": "https"}))
        assert "; secure" not in forged["autograder_csrf"]


def test_by_default_nobody_is_trusted(tmp_path: Path) -> None:
    svc = _api(tmp_path, "")
    try:
        svc.start_api()
        with _from(svc, "127.0.0.1") as local:  # uvicorn's own default would trust 127.0.0.1
            codes = [_signin(local, "/signin/" + "y" * 32, f"10.8.0.{i}").status_code for i in (1, 2, 3)]
            assert codes == [403, 403, 429]
            assert "; secure" not in _cookies(local.get("/ta/signin", headers={"X-Forwarded-Proto": "https"}))["autograder_csrf"]
    finally:
        svc.stop()


def test_a_wildcard_is_refused() -> None:
    from api.proxy import install_proxy_trust
    from fastapi import FastAPI

    with pytest.raises(ValueError, match="name the proxy"):
        install_proxy_trust(FastAPI(), "10.0.0.1, *")
