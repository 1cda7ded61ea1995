"""The tool side of LTI 1.3 on pylti1p3, adapted to FastAPI (pylti1p3 ships Django and Flask adapters only).

pylti1p3 does the protocol: the OIDC login redirect with state and nonce, and the launch's
checks (state cookie, JWT format, nonce, registration and client id = audience, signature
against the platform's JWKS, expiry, deployment, message claims). This module gives it what
it asks of a framework, and three things it leaves to the application:

- nonces live in the database and a launch uses its nonce up (`LtiLaunch.save_launch_data`):
  pylti1p3 only checks that a nonce was issued, so the same id_token could be posted twice;
- `exp` and `iat` are required claims (pyjwt checks `exp` only when the token has one);
- registrations come from the `lti_platforms` table (`DatabaseToolConf`).

Deep linking (an instructor adds an assignment from the LMS's content picker) replies with a
resource link per assignment, signed with the tool's key.

No session cookie is used by the protocol: the launch is the LMS's cross-site form POST, which a
browser sends without our SameSite=Lax session; the state cookie is SameSite=None behind HTTPS.
"""
from __future__ import annotations

import typing as t
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pylti1p3.cookie import CookieService
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.lineitem import LineItem
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.registration import Registration
from pylti1p3.request import Request as LtiRequest
from pylti1p3.session import SessionService
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy.orm import Session

from service import lti_services
from service.lti_services import registration_for, tool_jwks
from service.settings import ServiceSettings
from storage import lti as store
from storage.lti import LmsUser

__all__ = ["LtiException", "OIDCException", "LoginRequest", "tool_urls", "tool_jwks", "oidc_redirect",
           "verified_launch", "VerifiedLaunch", "deep_link_choices"]

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
REQUIRED_CLAIMS = ["exp", "iat", "nonce", "iss", "aud"]


# ---------------------------------------------------------------- keys and URLs

def tool_urls(settings: ServiceSettings, request: Request) -> dict[str, str]:
    """What a TA pastes into the LMS; from AUTOGRADER_PUBLIC_URL when set (behind a proxy the
    request's own address is not the one the LMS reaches)."""
    return lti_services.tool_urls(settings.public_url or str(request.base_url))


# ---------------------------------------------------------------- pylti1p3's framework adapters

class LoginRequest(LtiRequest):
    """The request as pylti1p3 reads it: parameters (query or form), cookies, HTTPS or not."""

    def __init__(self, *, params: Mapping[str, str], cookies: Mapping[str, str], secure: bool) -> None:
        self._params, self._cookies, self._secure = dict(params), dict(cookies), secure

    @property
    def session(self) -> dict:  # nothing of the protocol is kept in the session cookie
        return {}

    def is_secure(self) -> bool:
        return self._secure

    def get_param(self, key: str) -> str:
        return self._params.get(key)  # type: ignore[return-value]

    def get_cookie(self, key: str) -> str | None:
        return self._cookies.get(key)


class ResponseCookies(CookieService):
    """Cookies pylti1p3 sets (the login's state), kept until the response exists."""

    def __init__(self, request: LoginRequest) -> None:
        self._request = request
        self._pending: dict[str, tuple[str, int | None]] = {}

    def _key(self, name: str) -> str:
        return f"{self._cookie_prefix}-{name}"

    def get_cookie(self, name: str) -> str | None:
        return self._request.get_cookie(self._key(name))

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        self._pending[self._key(name)] = (str(value), exp)

    def apply(self, response: Response) -> Response:
        """Behind HTTPS SameSite=None (the launch POST comes from the LMS's site); plain HTTP
        (a local test) cannot have SameSite=None, so Lax."""
        secure = self._request.is_secure()
        for key, (value, exp) in self._pending.items():
            response.set_cookie(key, value, max_age=exp, path="/lti", httponly=True, secure=secure,
                                samesite="none" if secure else "lax")
        return response


class DatabaseNonces(SessionService):
    """pylti1p3's launch storage, cut down to what this tool uses: nonces, in the database.

    Launch data and "state already validated" are not kept: a launch is used once, here, so
    there is nothing to restore later, and a second post of the same state must fail.
    """

    def __init__(self, session: Session, lifetime_s: int) -> None:  # noqa: D107 - no pylti1p3 data storage
        self._session, self._lifetime_s = session, lifetime_s

    def save_nonce(self, nonce: str) -> None:
        store.save_nonce(self._session, nonce=nonce, lifetime_s=self._lifetime_s)

    def check_nonce(self, nonce: str) -> bool:
        return store.nonce_is_live(self._session, nonce=nonce)

    def use_nonce(self, nonce: str) -> bool:
        return store.use_nonce(self._session, nonce=nonce)

    def save_state_params(self, state: str, params: dict) -> None:
        pass

    def get_state_params(self, state: str) -> dict:
        return {}

    def save_launch_data(self, key: str, jwt_body: t.Mapping[str, t.Any]) -> None:
        pass

    def get_launch_data(self, key: str) -> None:
        return None

    def set_state_valid(self, state: str, id_token_hash: str) -> None:
        pass

    def check_state_is_valid(self, state: str, id_token_hash: str) -> bool:
        return False  # always the state cookie


class DatabaseToolConf(ToolConfAbstract):
    """Registrations from `lti_platforms`; every issuer may have several client ids."""

    def __init__(self, session: Session, settings: ServiceSettings) -> None:
        self._session, self._settings = session, settings

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: t.Any, **kwargs: t.Any) -> Registration | None:
        return self.find_registration_by_params(iss, None)

    def find_registration_by_params(self, iss: str, client_id: str | None, *args: t.Any,
                                    **kwargs: t.Any) -> Registration | None:
        platform = store.find_platform(self._session, issuer=iss, client_id=client_id)
        if platform is None:
            return None
        return registration_for(platform, self._settings)

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return self.find_deployment_by_params(iss, deployment_id, None)

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str | None, *args: t.Any,
                                  **kwargs: t.Any) -> Deployment | None:
        platform = store.find_platform(self._session, issuer=iss, client_id=client_id)
        if platform is None or deployment_id not in store.platform_deployments(platform):
            return None
        return Deployment().set_deployment_id(deployment_id)


class _Redirect(Redirect[Response]):
    def __init__(self, location: str, cookies: ResponseCookies) -> None:
        self._location, self._cookies = location, cookies

    def do_redirect(self) -> Response:
        return self._cookies.apply(RedirectResponse(self._location, status_code=302))

    def do_js_redirect(self) -> Response:  # not used: a plain redirect works without script
        return self.do_redirect()

    def set_redirect_url(self, location: str) -> None:
        self._location = location

    def get_redirect_url(self) -> str:
        return self._location


class _Login(OIDCLogin):
    def get_redirect(self, url: str) -> _Redirect:
        return _Redirect(url, self._cookie_service)


class LtiLaunch(MessageLaunch):
    """pylti1p3's launch, with the nonce used up by the launch that passes every other check."""

    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)

    def validate_nonce(self) -> "LtiLaunch":
        try:
            return super().validate_nonce()
        except LtiException as exc:
            raise LtiException("This launch was used already, or is too old (its nonce is unknown); open the "
                               "assignment from the LMS again") from exc

    def save_launch_data(self) -> "LtiLaunch":
        nonce = self._jwt.get("body", {}).get("nonce", "")
        if not self._session_service.use_nonce(nonce):
            raise LtiException("This launch was used already (its nonce is spent); open the assignment from the "
                               "LMS again")
        return self


# ---------------------------------------------------------------- the two steps

def oidc_redirect(session: Session, settings: ServiceSettings, request: LoginRequest, *, launch_url: str) -> Response:
    """Step 1, the LMS's login initiation: a redirect to its authorization URL with a fresh
    state (also set as a cookie on this browser) and nonce. OIDCException when the issuer or
    client id is not registered."""
    cookies = ResponseCookies(request)
    login = _Login(request, DatabaseToolConf(session, settings), DatabaseNonces(session, settings.lti_nonce_lifetime_s),
                   cookies)
    return login.redirect(launch_url)


@dataclass(frozen=True)
class LaunchContext:
    """The LMS course of a launch and the service URLs it offers the tool."""

    context_id: str
    title: str
    memberships_url: str | None
    lineitems_url: str | None
    ags_scopes: list[str]


@dataclass(frozen=True)
class VerifiedLaunch:
    user: LmsUser
    client_id: str
    instructor: bool  # Instructor or TeachingAssistant in the launch's context (not institution roles)
    message_type: str
    context: LaunchContext | None
    body: dict[str, t.Any]
    deep_link: DeepLink | None = None  # for an LtiDeepLinkingRequest: signs the reply to the LMS


def verified_launch(session: Session, settings: ServiceSettings, request: LoginRequest) -> VerifiedLaunch:
    """Step 2, the LMS's form POST of id_token and state: every check, or LtiException."""
    launch = LtiLaunch(request, DatabaseToolConf(session, settings),
                       session_service=DatabaseNonces(session, settings.lti_nonce_lifetime_s),
                       cookie_service=ResponseCookies(request))
    launch.set_jwt_verify_options({"verify_aud": False, "require": REQUIRED_CLAIMS})  # aud: the client id check
    launch.validate()
    body = dict(launch.get_launch_data())
    sub = body.get("sub")
    if not isinstance(sub, str) or not store.SAFE_SUB.fullmatch(sub):
        raise LtiException("The launch names no LMS user (an anonymous launch); open it signed in to the LMS.")
    name = body.get("name") or " ".join(p for p in (body.get("given_name"), body.get("family_name")) if p)
    lis = body.get(CLAIM + "lis") or {}
    user = LmsUser(issuer=body["iss"], sub=sub, name=str(name or "")[:200], email=str(body.get("email") or "")[:254],
                   sourcedid=str(lis.get("person_sourcedid") or "")[:64] if isinstance(lis, dict) else "")
    return VerifiedLaunch(user=user, client_id=launch.get_client_id(),
                          instructor=launch.check_teacher_access() or launch.check_teaching_assistant_access(),
                          message_type=str(body.get(CLAIM + "message_type", "")), context=_context(body), body=body,
                          deep_link=launch.get_deep_link() if launch.is_deep_link_launch() else None)


@dataclass(frozen=True)
class DeepLinkChoice:
    """One assignment the instructor may add: a form that posts a signed reply straight to the LMS."""

    name: str
    title: str
    return_url: str
    jwt: str


def deep_link_choices(verified: VerifiedLaunch, *, assignments: list[tuple[str, str, float]],
                      launch_url: str) -> list[DeepLinkChoice]:
    """A signed LtiDeepLinkingResponse per assignment (name, title, max score): an LTI resource
    link to the launch URL with a line item, so the LMS makes the gradebook column too.

    Signed now, one per choice, so the instructor's pick needs no server state: the page posts
    the chosen one to the LMS's return URL. Empty when the LMS accepts no LTI resource links.
    """
    dl = verified.deep_link
    settings = verified.body.get("https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings") or {}
    if dl is None or "ltiResourceLink" not in settings.get("accept_types", []):
        return []
    out = []
    for name, title, max_score in assignments:
        resource = DeepLinkResource().set_url(launch_url).set_title(title or name) \
            .set_custom_params({"assignment": name}) \
            .set_lineitem(LineItem().set_label(title or name).set_score_maximum(max_score).set_resource_id(name)
                          .set_tag("autograder"))
        out.append(DeepLinkChoice(name=name, title=title or name, return_url=str(settings["deep_link_return_url"]),
                                  jwt=dl.get_response_jwt([resource])))
    return out


def _context(body: Mapping[str, t.Any]) -> LaunchContext | None:
    ctx = body.get(CLAIM + "context")
    if not isinstance(ctx, dict) or not ctx.get("id"):
        return None
    nrps = body.get(NRPS_CLAIM) if isinstance(body.get(NRPS_CLAIM), dict) else {}
    ags = body.get(AGS_CLAIM) if isinstance(body.get(AGS_CLAIM), dict) else {}
    scopes = [str(x) for x in ags.get("scope", []) if isinstance(x, str)]
    return LaunchContext(context_id=str(ctx["id"])[:255], title=str(ctx.get("title") or ctx.get("label") or "")[:255],
                         memberships_url=_str(nrps.get("context_memberships_url")),
                         lineitems_url=_str(ags.get("lineitems")), ags_scopes=scopes)


def _str(value: object) -> str | None:
    return str(value)[:1000] if isinstance(value, str) and value.startswith(("http://", "https://")) else None
