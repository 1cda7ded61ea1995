"""Request bodies: capped while they stream, and a TA's token checked before the body is read.

Raw sockets, because the point is what the server does before the client has sent the body:
a refusal that arrives while most of the body is still unsent was made without reading it.
"""
from __future__ import annotations

import json
import select
import socket
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.api.conftest import Service, make_service

BOUNDARY = "----capcheck"


@pytest.fixture
def api(tmp_path: Path, test_checkpoint: Path) -> Iterator[Service]:
    """The API alone (no worker: nothing here gets graded), with an access code and its own TMPDIR."""
    svc = make_service(tmp_path, test_checkpoint, broker="redis")
    (tmp_path / "tmp").mkdir()
    svc.env.update({"AUTOGRADER_ACCESS_CODE": "right-code", "TMPDIR": str(tmp_path / "tmp")})
    try:
        svc.start_api()
        yield svc
    finally:
        svc.stop()


def _form_head(fields: dict[str, str], filename: str) -> bytes:
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{"files" if filename.endswith(".zip") else "file"}"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n')
    return "".join(parts).encode()


def _request(path: str, *, length: int | None, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
             *(f"{k}: {v}" for k, v in (headers or {}).items()),
             f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict]:
    """Status and JSON body of the reply; fails if none comes within `timeout` seconds."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pytest.fail(f"no reply within {timeout} s: the server is still reading the body (got {data[:200]!r})")
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, (json.loads(body) if head.lower().count(b"application/json") else {"text": body.decode()})


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def _tmp_files(svc: Service) -> list[str]:
    """Files the API process holds open in its TMPDIR (a spooled upload is unlinked but open)."""
    tmp = str(svc.var_dir.parent / "tmp")
    fds = Path(f"/proc/{svc.api.pid}/fd")
    return [link for fd in fds.iterdir() if tmp in (link := _readlink(fd))]


def _readlink(fd: Path) -> str:
    try:
        return str(fd.readlink())
    except OSError:
        return ""


def test_declared_3_gib_with_a_wrong_code_is_refused_unread(api: Service) -> None:
    head = _form_head({"student_id": "s1", "access_code": "wrong"}, "resnet50_skeleton.py")
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(_request("/api/submissions", length=3 << 30) + head + b"#" * (64 << 10))
        status, body = _response(sock)
    assert status == 413 and "256 KiB" in body["detail"], body
    assert not _tmp_files(api)


def test_page_form_gets_a_readable_page(api: Service) -> None:
    head = _form_head({"student_id": "s1"}, "resnet50_skeleton.py")
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(_request("/submit", length=50 << 20) + head + b"#" * 1024)
        status, body = _response(sock)
    assert status == 413 and "256 KiB" in body["text"] and "<html" in body["text"]


def test_chunked_body_is_cut_off_at_the_cap(api: Service) -> None:
    """No Content-Length to go by: the server stops reading soon after the cap and refuses,
    long before the 64 MiB the client would send, and no part of it reached a temp file."""
    head = _form_head({"student_id": "s1", "access_code": "right-code"}, "resnet50_skeleton.py")
    chunk = b"#" * (256 << 10)
    sent, total = 0, 64 << 20
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(_request("/api/submissions", length=None) + b"%x\r\n%s\r\n" % (len(head), head))
        while sent < total and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # the server closed the connection after its 413
                break
            sent += len(chunk)
            if sent == 4 << 20:
                assert not _tmp_files(api), "the upload is being written to a temp file"
            time.sleep(0.002)
        status, body = _response(sock)
    assert status == 413 and "256 KiB" in body["detail"]
    assert sent < 24 << 20, f"the server read {sent >> 20} MiB before refusing"


@pytest.mark.parametrize("auth, status", [({}, 401), ({"Authorization": "Bearer not-a-token"}, 403)])
def test_ta_batch_checks_the_token_before_the_body(api: Service, auth: dict[str, str], status: int) -> None:
    """60 MiB is under the batch cap; with a bad token none of it is read."""
    head = _form_head({"name": "x"}, "course.zip")
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(_request("/api/batches", length=60 << 20, headers=auth) + head + b"PK" * (32 << 10))
        got, body = _response(sock)
    assert got == status and "token" in body["detail"], body
    assert not _tmp_files(api)


def test_a_batch_over_its_cap_is_refused_unread(api: Service) -> None:
    token = api.token()
    head = _form_head({"name": "x"}, "course.zip")
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(_request("/api/batches", length=(64 << 20) + (1 << 20),
                              headers={"Authorization": f"Bearer {token}"}) + head + b"PK" * 1024)
        status, body = _response(sock)
    assert status == 413 and "64 MiB" in body["detail"], body
