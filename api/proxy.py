"""Whom a request came from, when a reverse proxy (the compose profile's Caddy) stands in front.

Behind a proxy every connection comes from the proxy's address, so the per-address limits
(uploads and sign-ins a minute, TA password failures, live streams) would count a whole
class as one client, and the app would not know the browser spoke HTTPS. The proxy says both
in X-Forwarded-For and X-Forwarded-Proto; anyone can send those headers, so they are
believed only from the addresses in `AUTOGRADER_TRUSTED_PROXIES` (IPs or networks, comma
separated; empty, the default: from nobody). Believed, they become the request's client
address and scheme (uvicorn's own middleware does the parsing), which every limiter and the
Secure flag of the cookies already read.

uvicorn's command line trusts 127.0.0.1 by default; our launches pass `--no-proxy-headers`
(`proxy_headers=False`) so that this setting alone decides.
"""
from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


def trusted_proxies(value: str) -> list[str]:
    """The setting as a list: '172.28.0.10, 10.0.0.0/8' -> ['172.28.0.10', '10.0.0.0/8']; '' -> []."""
    return [item.strip() for item in value.split(",") if item.strip()]


def install_proxy_trust(app: FastAPI, setting: str) -> None:
    """Let a trusted proxy's forwarded headers name the client and scheme of every request.

    Added last, so it runs first (before sessions, CSRF and the body caps). With no trusted
    proxy nothing is added: the headers are never read.
    """
    proxies = trusted_proxies(setting)
    if not proxies:
        return
    if "*" in proxies:
        raise ValueError("AUTOGRADER_TRUSTED_PROXIES='*' would let any client choose its address "
                         "(and escape the per-address limits); name the proxy's address")
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)


def client_address(request: Request) -> str:
    """The address the per-address limits count: the real client once a trusted proxy said so."""
    return request.client.host if request.client else "unknown"


def is_https(request: Request, *, forced: bool = False) -> bool:
    """Whether cookies set on this response must be Secure: the browser spoke HTTPS (directly or
    to the trusted proxy), or the TA set AUTOGRADER_HTTPS."""
    return forced or request.url.scheme == "https"
