"""`deployctl github ...`: the server's GitHub account and its repositories."""

from __future__ import annotations

from typing import Annotated

import typer

from deployd.protocol.apps import JobInfo
from deployd.protocol.github import (
    GithubAccount,
    GithubAppParams,
    GithubBranchesParams,
    GithubBranchesResult,
    GithubConnection,
    GithubConnectParams,
    GithubDeliveriesParams,
    GithubDeliveriesResult,
    GithubDisconnectResult,
    GithubLoginProgress,
    GithubLoginStarted,
    GithubRedeliverParams,
    GithubRedeliverResult,
    GithubReposParams,
    GithubReposResult,
)

from .. import render
from ..session import JsonFlag, session
from .deploys import NoWait, follow

app = typer.Typer(help="GitHub: log in, list repositories, deploy on push.", no_args_is_help=True)


@app.command("status")
def status(json: JsonFlag = False) -> None:
    """Which GitHub account deployd acts as, and where."""
    result: GithubAccount = session(json).call("github.status")
    if json:
        render.emit_json(result)
        return
    render.pairs(
        [
            ("account", result.login or "none (deployctl github login)"),
            ("scope", result.scope or "-"),
            (
                "logged in",
                f"{render.when(result.logged_in_at)} by {result.logged_in_by}"
                if result.logged_in_at
                else "-",
            ),
            ("token expires", render.when(result.expires_at) if result.expires_at else "no"),
            ("api", result.api_url),
            ("oauth app", result.client_id or "not set (DEPLOYD_GITHUB_CLIENT_ID)"),
        ]
    )


@app.command("login")
def login(json: JsonFlag = False) -> None:
    """Log deployd in to GitHub with the device flow: open the URL, enter the code."""
    state = session(json)
    with state.connect(timeout=None) as client:
        started: GithubLoginStarted
        started, stream = client.stream("github.login")
        if json:
            print(started.model_dump_json(), flush=True)
        else:
            line = render.text("Open ")
            line.append_text(render.text(started.verification_uri, style="bold"))
            line.append(" and enter the code ")
            line.append_text(render.text(started.user_code, style="bold reverse"))
            render.out().print(line)
            render.out().print(
                render.text(
                    f"(waiting for you there; the code is good for {started.expires_in // 60} "
                    "minutes; Ctrl-C gives up)",
                    style="dim",
                )
            )
        last: GithubLoginProgress | None = None
        try:
            for params in stream:
                last = GithubLoginProgress.model_validate(params)
                if json:
                    print(last.model_dump_json(), flush=True)
                elif last.state == "slow_down":
                    render.out().print(render.text(last.message, style="dim"))
        except KeyboardInterrupt:
            raise typer.Exit(1) from None
    if last is None or last.state != "done":
        if not json:
            render.failure(last.message if last else "the login ended without an answer")
        raise typer.Exit(1)
    if not json:
        render.success(last.message)


@app.command("repos")
def repos(
    org: Annotated[str | None, typer.Option(help="An organisation's repositories.")] = None,
    json: JsonFlag = False,
) -> None:
    """The repositories deployd's GitHub account can see, private ones too."""
    result: GithubReposResult = session(json).call("github.repos", GithubReposParams(org=org))
    if json:
        render.emit_json(result)
        return
    render.table(
        ["REPOSITORY", "VISIBILITY", "DEFAULT BRANCH"],
        [
            [r.full_name, "private" if r.private else "public", r.default_branch]
            for r in result.repos
        ],
    )


@app.command("branches")
def branches(repo: str, json: JsonFlag = False) -> None:
    """A repository's branches (OWNER/NAME)."""
    result: GithubBranchesResult = session(json).call(
        "github.branches", GithubBranchesParams(repo=repo)
    )
    if json:
        render.emit_json(result)
        return
    render.table(
        ["BRANCH", "COMMIT", "PROTECTED"],
        [[b.name, b.sha[:10], "yes" if b.protected else ""] for b in result.branches],
    )


@app.command("connect")
def connect(
    name: Annotated[str, typer.Argument(help="The app (made if there is none).")],
    repo: Annotated[str, typer.Argument(help="OWNER/NAME on GitHub.")],
    branch: Annotated[
        str | None, typer.Option(help="The branch to deploy (default: the repository's).")
    ] = None,
    previews: Annotated[
        bool, typer.Option("--previews", help="A preview app for each pull request.")
    ] = False,
    preview_exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--preview-exclude",
            help="A variable previews are not given (repeat; the databases' URLs never are).",
        ),
    ] = None,
    no_deploy: Annotated[bool, typer.Option("--no-deploy", help="Connect, deploy later.")] = False,
    no_wait: NoWait = False,
    json: JsonFlag = False,
) -> None:
    """Deploy NAME from a GitHub repository on every push: the webhook (with a secret of
    its own), the app's source, and a first deploy, followed here."""
    state = session(json)
    result: GithubConnection = state.call(
        "github.connect",
        GithubConnectParams(
            app=name,
            repo=repo,
            branch=branch,
            previews=previews,
            preview_exclude=preview_exclude or [],
            deploy=not no_deploy,
        ),
        timeout=120,
    )
    if not json:
        made = " (a new app)" if result.created_app else ""
        render.success(
            f"{result.app}{made} follows {result.repo} ({result.branch}"
            + (", previews on" if result.previews else "")
            + f"); GitHub sends its webhooks to {result.hook_url}"
        )
    if result.job is None or no_wait:
        if json:
            render.emit_json(result)
        return
    job: JobInfo = state.call("deploys.show", {"job": result.job})
    follow(state, job, json, emit=False)
    if json:
        render.emit_json(result)


@app.command("show")
def show(name: str, json: JsonFlag = False) -> None:
    """The repository an app follows, its webhook and its previews."""
    result: GithubConnection = session(json).call("github.show", GithubAppParams(app=name))
    if json:
        render.emit_json(result)
        return
    render.pairs(
        [
            ("repository", result.repo),
            ("branch", result.branch),
            ("webhook", f"{result.hook_id} -> {result.hook_url}"),
            ("previews", ", ".join(result.preview_apps) or "on" if result.previews else "off"),
            ("withheld from previews", ", ".join(result.preview_exclude) or "-"),
            ("connected", f"{render.when(result.connected_at)} by {result.connected_by}"),
        ]
    )


@app.command("deliveries")
def deliveries(
    name: str,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    json: JsonFlag = False,
) -> None:
    """Every webhook received for an app: when, which event, its delivery id, the verdict
    and why, the deploy it started and whether GitHub was told how it went."""
    result: GithubDeliveriesResult = session(json).call(
        "github.deliveries", GithubDeliveriesParams(app=name, limit=limit)
    )
    if json:
        render.emit_json(result)
        return
    render.table(
        ["RECEIVED", "EVENT", "DELIVERY", "VERDICT", "WHY", "JOB", "GITHUB"],
        [
            [
                render.when(d.received_at),
                d.event,
                d.delivery,
                d.verdict.value,
                d.reason,
                str(d.job or "-"),
                d.reported + (f": {d.report_error}" if d.report_error else ""),
            ]
            for d in result.deliveries
        ],
    )


@app.command("redeliver")
def redeliver(name: str, delivery: str, json: JsonFlag = False) -> None:
    """Ask GitHub to send a delivery again (a push that reached nobody, say)."""
    result: GithubRedeliverResult = session(json).call(
        "github.redeliver", GithubRedeliverParams(app=name, delivery=delivery)
    )
    if json:
        render.emit_json(result)
        return
    render.success(result.message)


@app.command("disconnect")
def disconnect(name: str, json: JsonFlag = False) -> None:
    """Stop deploying on push: the webhook goes on GitHub, the previews here; the app and
    its releases stay."""
    result: GithubDisconnectResult = session(json).call(
        "github.disconnect", GithubAppParams(app=name), timeout=120
    )
    if json:
        render.emit_json(result)
        return
    render.success(result.message)
    if result.previews_removed:
        render.out().print(f"removed previews: {', '.join(result.previews_removed)}")
