"""A real LTI 1.3 platform for the tests: lti1p3platform's platform core behind FastAPI, served by
uvicorn on 127.0.0.1, and the tool under test (create_app) served the same way.

lti1p3platform signs the launches, runs the OIDC step, issues access tokens (checking the
tool's signed client assertion against the tool's /lti/jwks) and checks them on its Names and
Roles and Assignment and Grade services. Its FastAPI glue (lti1p3platform.framework) needs
pkg_resources, which new setuptools no longer has, so the few lines of glue are here; none of
the tool's own checks are.

`tweaks` changes the next launch as a misbehaving or hostile platform would: other claims
(e.g. another audience) or another lifetime (a negative one: already expired).
"""
from __future__ import annotations

import socket
import threading
import time
import typing as t
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from typing import Iterator

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request as PlatformRequest
from lti1p3platform.service_connector import AssignmentsGradesService, NamesRoleProvisioningService
from lti1p3platform.membership import Context
from lti1p3platform.score import UpdateScoreStatus
from lti1p3platform.exceptions import LtiException, LtiServiceException

ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadServer:
    """uvicorn in a thread; `stop` and `start` again on the same port (a platform going down)."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.app, self.port = app, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(15)
            self._server = None


@contextmanager
def serving(app: FastAPI, port: int | None = None) -> Iterator[ThreadServer]:
    server = ThreadServer(app, port or free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class LmsUser:
    sub: str
    name: str
    email: str
    roles: list[str]
    sourcedid: str = ""


@dataclass
class LineItem:
    id: str
    label: str
    scoreMaximum: float  # noqa: N815 - the spec's spelling
    resourceId: str = ""  # noqa: N815
    tag: str = ""
    scores: list[dict] = field(default_factory=list)


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


class _Conf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: t.Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: t.Any) -> Registration:
        return self._registration


class _Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: t.Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=302)


class _Request(PlatformRequest):
    """lti1p3platform's view of a request (what its service handlers read)."""

    def __init__(self, *, method: str, query: dict, headers: t.Mapping[str, str], json: t.Any = None,
                 form: dict | None = None, path: str = "") -> None:
        self.request = {"method": method, "form_data": form or {}, "get_data": query, "headers": headers,
                        "content_type": headers.get("content-type"), "path": path, "json": json}


class Platform:
    """An LMS course with users, a roster for NRPS and line items with scores for AGS."""

    def __init__(self, tool_url: str, *, client_id: str = "grader-client", deployment_id: str = "deployment-1") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = self.url
        self.client_id, self.deployment_id, self.tool_url = client_id, deployment_id, tool_url
        self.private_key, self.public_key = _pem_pair()
        self.users: dict[str, LmsUser] = {}
        self.lineitems: dict[str, LineItem] = {}
        self.tweaks: dict[str, t.Any] = {}
        self.token_requests = 0
        self.deep_links: list[list[dict]] = []  # the content items of each deep linking reply
        self.app = self._app()

    def registration(self) -> Registration:
        reg = Registration()
        reg.set_iss(self.issuer).set_client_id(self.client_id).set_deployment_id(self.deployment_id)
        reg.set_oidc_login_url(f"{self.tool_url}/lti/login").set_launch_url(f"{self.tool_url}/lti/launch")
        reg.set_platform_private_key(self.private_key).set_platform_public_key(self.public_key)
        reg.set_tool_key_set_url(f"{self.tool_url}/lti/jwks")
        reg.set_deeplink_launch_url(f"{self.tool_url}/lti/launch")
        return reg

    def conf(self) -> _Conf:
        conf = _Conf(registration=self.registration())
        conf.get_registration()
        return conf

    def add_user(self, key: str, *, name: str, email: str, roles: list[str], sourcedid: str = "") -> LmsUser:
        self.users[key] = LmsUser(sub=f"lms-user-{key}-{len(self.users)}", name=name, email=email, roles=roles,
                                  sourcedid=sourcedid)
        return self.users[key]

    # ------------------------------------------------------------ the FastAPI app

    def _app(self) -> FastAPI:
        app = FastAPI()
        platform = self

        class Launch(LTIAdvantageMessageLaunchAbstract):
            def __init__(self, params: dict, conf: _Conf) -> None:
                super().__init__(None, conf)  # type: ignore[arg-type]
                self._params = params

            def get_preflight_response(self) -> dict:
                return self._params

            def prepare_launch(self, preflight_response: dict) -> None:
                # A platform sends the launch only to a redirect URI registered for the tool.
                if preflight_response["redirect_uri"] != f"{platform.tool_url}/lti/launch":
                    raise HTTPException(400, "redirect_uri not registered")
                user = platform.users[preflight_response["login_hint"]]
                self.set_user_data(user.sub, user.roles, full_name=user.name, email_address=user.email)
                if user.sourcedid:
                    self.set_extra_claims({"https://purl.imsglobal.org/spec/lti/claim/lis":
                                           {"person_sourcedid": user.sourcedid}})
                self.set_resource_link_claim("resource-link-1", title="ResNet-50")
                self.set_launch_context_claim("course-1", context_title="CNN course", context_label="CNN")
                self.set_nrps(f"{platform.url}/memberships")
                self.set_ags(f"{platform.url}/lineitems", allow_creating_lineitems=True)
                if platform.tweaks.get("deep_link"):  # the instructor opens the LMS's content picker
                    self.set_dl(f"{platform.url}/deep_link_return", title="Add content", accept_types={"ltiResourceLink"})
                self.set_extra_claims(platform.tweaks.get("claims", {}))
                self.set_id_token_expiration(platform.tweaks.get("expires_in", 300))

            def render_launch_form(self, launch_data: dict, **kwargs: t.Any) -> HTMLResponse:
                fields = "".join(f'<input type="hidden" name="{k}" value="{escape(str(launch_data[k]))}">'
                                 for k in ("id_token", "state"))
                return HTMLResponse(f'<form method="post" action="{escape(launch_data["launch_url"])}" id="form">'
                                    f'{fields}</form><script>document.getElementById("form").submit()</script>')

        @app.get("/start")
        def start(user: str) -> RedirectResponse:
            """The user clicks the assignment in the LMS: third-party-initiated login at the tool."""
            login = _Login(None, platform.conf())
            login.set_lti_message_hint(hint="resource-link-1")
            return login.initiate_login(user)

        @app.get("/authorize")
        def authorize(request: Request) -> HTMLResponse:
            return Launch(dict(request.query_params), platform.conf()).lti_launch()

        @app.post("/deep_link_return")
        async def deep_link_return(request: Request) -> JSONResponse:
            """The tool's signed reply, checked against the tool's JWKS by lti1p3platform."""
            form = dict(await request.form())
            try:
                items = platform.conf().validate_deeplinking_resp({"JWT": form["JWT"]})
            except Exception as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            platform.deep_links.append(items)
            return JSONResponse(items)

        @app.get("/jwks")
        def jwks() -> dict:
            return platform.conf().get_jwks()

        @app.post("/token")
        async def token(request: Request) -> JSONResponse:
            platform.token_requests += 1
            form = dict(await request.form())
            try:
                return JSONResponse(platform.conf().get_access_token(form))
            except Exception as exc:  # a bad client assertion
                return JSONResponse({"error": "invalid_client", "detail": str(exc)}, status_code=400)

        class Members(NamesRoleProvisioningService):
            def get_member_data_page(self, **kwargs: t.Any) -> dict:
                return {"content": [{"user_id": u.sub, "name": u.name, "email": u.email, "roles": u.roles,
                                     "status": "Active", **({"lis_person_sourcedid": u.sourcedid} if u.sourcedid else {})}
                                    for u in platform.users.values()], "has_next": False}

            def get_context_by_id(self) -> Context:
                return Context(id="course-1", label="CNN", title="CNN course")

        @app.get("/memberships")
        def memberships(request: Request) -> JSONResponse:
            req = _Request(method="GET", query={}, headers=request.headers, path=request.url.path)
            return _reply(Members(req, platform.conf(), f"{platform.url}/memberships").handle_get_members)

        def ags(req: _Request) -> AssignmentsGradesService:
            return Grades(req, platform.conf(), f"{platform.url}/lineitems", allow_creating_lineitems=True)

        class Grades(AssignmentsGradesService):
            def find_lineitems(self, **kwargs: t.Any) -> dict:
                items = [_item_view(i) for i in platform.lineitems.values()
                         if not kwargs.get("resource_id") or i.resourceId == kwargs["resource_id"]]
                return {"content": items, "has_next": False}

            def find_lineitem(self, line_item_id: str) -> dict:
                return _item_view(platform.lineitems[line_item_id])

            def create_lineitem(self, creation_data: dict) -> dict:
                key = str(len(platform.lineitems) + 1)
                platform.lineitems[key] = LineItem(id=f"{platform.url}/lineitems/{key}", label=creation_data["label"],
                                                   scoreMaximum=creation_data["scoreMaximum"],
                                                   resourceId=creation_data.get("resourceId", ""),
                                                   tag=creation_data.get("tag", ""))
                return _item_view(platform.lineitems[key])

            def update_lineitem(self, update_data: dict) -> dict:
                raise NotImplementedError

            def delete_lineitem(self, line_item_id: str) -> None:
                platform.lineitems.pop(line_item_id, None)

            def update_score(self, line_item_id: str, score: dict) -> UpdateScoreStatus:
                platform.lineitems[line_item_id].scores.append(score)
                return UpdateScoreStatus.SUCCESS

            def get_results(self, line_item_id: str, **kwargs: t.Any) -> dict:
                return {"content": [], "has_next": False}

        @app.get("/lineitems")
        def lineitems(request: Request) -> JSONResponse:
            query = {"resource_id": request.query_params["resource_id"]} if "resource_id" in request.query_params else {}
            req = _Request(method="GET", query=query, headers=request.headers)
            return _reply(ags(req).handle_get_lineitems)

        @app.post("/lineitems")
        async def create(request: Request) -> JSONResponse:
            req = _Request(method="POST", query={}, headers=request.headers, json=await request.json())
            return _reply(ags(req).handle_create_lineitem)

        @app.post("/lineitems/{key}/scores")
        async def scores(key: str, request: Request) -> JSONResponse:
            if key not in platform.lineitems:
                return JSONResponse({"error": "no such line item"}, status_code=404)
            req = _Request(method="POST", query={}, headers=request.headers, json=await request.json())
            return _reply(lambda: ags(req).handle_update_score(key))

        return app


def _item_view(item: LineItem) -> dict:
    return {"id": item.id, "label": item.label, "scoreMaximum": item.scoreMaximum, "resourceId": item.resourceId,
            "tag": item.tag}


def _reply(handler: t.Callable[[], t.Any]) -> JSONResponse:
    """Run one of lti1p3platform's service handlers; its Response (result, code) as HTTP (a page of
    line items as the JSON array the AGS spec says), its refusals of the access token as 401."""
    try:
        resp = handler()
    except LtiServiceException as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status_code)
    except LtiException as exc:
        return JSONResponse({"error": str(exc)}, status_code=401)
    code = getattr(resp, "code", 200)
    result = getattr(resp, "result", None)
    if code >= 400:
        return JSONResponse({"error": getattr(resp, "message", "")}, status_code=code)
    if isinstance(result, dict) and "content" in result and "has_next" in result:  # a page: the spec's JSON array
        return JSONResponse(result["content"], status_code=code,
                            headers={"Link": f'<{result["next"]}>; rel="next"'} if result.get("next") else None)
    return JSONResponse(result, status_code=code)
