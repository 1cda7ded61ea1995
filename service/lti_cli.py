"""`autograder lti ...`: the LMSs this tool accepts launches from (LTI 1.3 platform registrations).

Each command is a thin call into storage.lti; registered on the `autograder` group by service/cli.py.
"""
from __future__ import annotations

import click

from grader.cli import main


def _call(fn, *, creates: bool = False, **kwargs):  # noqa: ANN001, ANN003, ANN202 - one storage call in a session, refusals as CLI errors
    from service.settings import ServiceSettings
    from storage.db import session_scope
    from storage.lti import LtiError

    try:
        with session_scope(ServiceSettings().cli_database_url(creates=creates)) as session:
            return fn(session, **kwargs)
    except LtiError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def lti() -> None:
    """LMS integration (LTI 1.3): register the LMS here, and the tool there (values on /ta/lti)."""


@lti.command("add-platform")
@click.option("--issuer", required=True, help="The LMS's issuer (Canvas: https://canvas.instructure.com; Moodle: the site URL).")
@click.option("--client-id", required=True, help="The client id the LMS gave this tool.")
@click.option("--deployment-id", "deployment_ids", multiple=True, required=True,
              help="A deployment id of the tool in the LMS (repeat for several; added to those registered).")
@click.option("--auth-login-url", required=True, help="The LMS's OIDC authorization URL.")
@click.option("--auth-token-url", required=True, help="The LMS's OAuth2 access token URL.")
@click.option("--jwks-url", "key_set_url", required=True, help="The LMS's public keyset (JWKS) URL.")
@click.option("--auth-audience", default=None, help="The token request's audience, if not the token URL.")
@click.option("--name", default="", help="A name to show on the TA page (e.g. 'Canvas').")
def add_platform(issuer: str, client_id: str, deployment_ids: tuple[str, ...], auth_login_url: str,
                 auth_token_url: str, key_set_url: str, auth_audience: str | None, name: str) -> None:
    """Register an LMS, or update the registration with this issuer and client id."""
    from storage.lti import add_platform as add, platform_deployments

    def run(session) -> str:  # noqa: ANN001
        p = add(session, issuer=issuer, client_id=client_id, deployment_ids=list(deployment_ids),
                auth_login_url=auth_login_url, auth_token_url=auth_token_url, key_set_url=key_set_url,
                auth_audience=auth_audience, name=name)
        return f"platform {p.issuer} (client {p.client_id}) registered; deployments: {' '.join(platform_deployments(p))}"

    click.echo(_call(run, creates=True))
    _echo_tool_urls()


def _echo_tool_urls() -> None:
    """What the LMS needs from this side, as /ta/lti shows it: without them the registration is half done."""
    from service.lti_services import tool_urls
    from service.settings import ServiceSettings

    public_url = ServiceSettings().public_url
    urls = tool_urls(public_url or "http://127.0.0.1:8000")
    click.echo("In the LMS's tool settings:\n"
               f"  OpenID Connect initiation (login) URL  {urls['login']}\n"
               f"  Target link / launch / redirect URI    {urls['launch']}\n"
               f"  Public keyset (JWKS) URL               {urls['jwks']}\n"
               f"  Deep linking URL                       {urls['deep_link']}")
    if not public_url or not public_url.startswith("https://"):
        click.echo("warning: AUTOGRADER_PUBLIC_URL is " + (f"{public_url}" if public_url else "not set")
                   + ": the LMS needs the service's public HTTPS address (see Deploy for a course); set it and "
                   "run `autograder lti urls` to print these again.", err=True)


@lti.command("urls")
def urls() -> None:
    """The tool's URLs to paste into the LMS (from AUTOGRADER_PUBLIC_URL), as on /ta/lti."""
    _echo_tool_urls()


@lti.command("list")
def list_platforms() -> None:
    """The registered LMSs: name, issuer, client id, deployments, the three URLs."""
    from storage.lti import list_platforms as platforms, platform_deployments

    def rows(session) -> list[str]:  # noqa: ANN001
        return [f"{p.name or '-'}\t{p.issuer}\t{p.client_id}\t{','.join(platform_deployments(p))}\t"
                f"{p.auth_login_url}\t{p.auth_token_url}\t{p.key_set_url}" for p in platforms(session)]

    lines = _call(rows)
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("no LMS registered yet: autograder lti add-platform ... (see the README's LMS section)")


@lti.command("remove-platform")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
def remove_platform(issuer: str, client_id: str) -> None:
    """Stop accepting launches from this registration (its LMS users stay linked to their students)."""
    from storage.lti import remove_platform as remove

    _call(remove, issuer=issuer, client_id=client_id)
    click.echo(f"platform {issuer} (client {client_id}) removed")


@lti.command("approve-course")
@click.option("--issuer", required=True)
@click.argument("context_id")
def approve_course(issuer: str, context_id: str) -> None:
    """Approve an LMS course seen in a launch (`lti courses`): its Instructors become TAs here,
    its roster is synced and its grades are posted. A sandbox course anyone made is not."""
    from storage.lti import approve_context

    _call(approve_context, issuer=issuer, context_id=context_id, by="cli")
    click.echo(f"LMS course {context_id} of {issuer} approved")


@lti.command("courses")
def courses() -> None:
    """The LMS courses seen in launches, approved or not."""
    from storage.lti import list_contexts

    def rows(session) -> list[str]:  # noqa: ANN001
        return [f"{p.issuer}\t{c.context_id}\t{c.title}\t{'approved' if c.approved else 'NOT approved'}"
                for c, p in list_contexts(session)]

    lines = _call(rows)
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("no LMS course seen yet: open the tool once from the LMS course as its instructor")


@lti.command("sync-roster")
def sync_roster() -> None:
    """Names and Roles: the Learners of every LMS course seen in a launch join the roster."""
    from service.lti_services import sync_roster as sync
    from service.settings import ServiceSettings

    out = sync(ServiceSettings())
    click.echo(f"{out.courses} LMS course(s), {out.learners} learner(s), {len(out.added)} added to the roster"
               + (f": {', '.join(out.added)}" if out.added else ""))
    for line in out.skipped:
        click.echo(f"skipped {line}", err=True)
    for line in out.errors:
        click.echo(f"error {line}", err=True)
    if out.errors:
        raise SystemExit(1)


@lti.command("passback")
def passback() -> None:
    """Post the released final grades the LMS lacks, and retry those that failed (the workers do it too)."""
    from service.lti_services import passback_pass
    from service.settings import ServiceSettings

    out = passback_pass(ServiceSettings())
    click.echo(f"{out.queued} new or changed, {out.sent} posted, {out.failed} still pending (retried with backoff)")
