"""`deployctl github ...`: the server's GitHub account and its repositories."""

from __future__ import annotations

from typing import Annotated

import typer

from deployd.protocol.github import (
    GithubAccount,
    GithubBranchesParams,
    GithubBranchesResult,
    GithubLoginProgress,
    GithubLoginStarted,
    GithubReposParams,
    GithubReposResult,
)

from .. import render
from ..session import JsonFlag, session

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
