"""The GitHub REST API with one token: who it is, what it can see, webhooks, and what
deployd reports back (commit statuses, deployments).

Every value that goes into a URL path is checked first (repository names by the domain's
rules, commits as 40 hex digits, ids as integers) and then quoted segment by segment;
nothing is formatted into a path as it came. Lists follow `Link: rel="next"` only on the
API's own host. The token is sent as a Bearer header and nowhere else: not in a URL, a
message or a repr.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from deployd.domain.errors import DomainError
from deployd.domain.github import check_owner, check_repository
from deployd.domain.text import excerpt

from .errors import LOGIN_AGAIN, GitHubError, GitHubErrorKind, Scrubber
from .models import Branch, Endpoints, GitHubUser, Hook, HookDelivery, Repository, origin
from .wire import Answer, Policy, Say, Sleep, Wire

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
CommitState = Literal["pending", "success", "failure", "error"]
DeploymentState = Literal[
    "error", "failure", "inactive", "in_progress", "queued", "pending", "success"
]
COMMIT = re.compile(r"^[0-9a-f]{40}$")
PER_PAGE = 100
MAX_PAGES = 50
DESCRIPTION_CHARS = 140
"""GitHub refuses a longer status description."""


class GitHub:
    def __init__(
        self,
        endpoints: Endpoints,
        token: str,
        *,
        retries: int = 3,
        timeout: float = 30.0,
        on_retry: Say | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        policy: Policy | None = None,
        per_page: int = PER_PAGE,
    ) -> None:
        if not token or not token.isprintable() or token != token.strip():
            raise GitHubError(GitHubErrorKind.AUTH, f"no usable GitHub token; {LOGIN_AGAIN}")
        self.endpoints = endpoints
        self.per_page = per_page
        self._scrub = Scrubber([token])
        self._base = httpx.URL(endpoints.api_url)
        self._wire = Wire(
            headers={"Authorization": f"Bearer {token}"},
            policy=policy or Policy(timeout=timeout, retries=retries),
            on_retry=on_retry,
            sleep=sleep,
            transport=transport,
            scrub=self._scrub,
        )

    def __repr__(self) -> str:
        return f"GitHub({self.endpoints.api_url!r}, token=<hidden>)"

    async def aclose(self) -> None:
        await self._wire.aclose()

    async def __aenter__(self) -> GitHub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # who and what
    async def user(self) -> GitHubUser:
        return await self._one(GitHubUser, "the user of this token", "user")

    async def repos(self, org: str | None = None) -> list[Repository]:
        """Every repository the token can see (its own, as a collaborator and through its
        organisations), or those of one organisation; private ones too."""
        if org is None:
            url = self._api("user", "repos", sort="full_name")
            what = "the repositories of this token"
        else:
            owner = check_owner(org)
            url, what = self._api("orgs", owner, "repos", type="all"), f"organisation {owner}"
        return await self._pages(url, what, lambda item: self._repository(item, what))

    async def repository(self, full_name: str) -> Repository:
        owner, name = _repo(full_name)
        what = f"repository {owner}/{name}"
        data = await self._get(self._api("repos", owner, name), what)
        return self._repository(data, what)

    async def branches(self, full_name: str) -> list[Branch]:
        owner, name = _repo(full_name)
        what = f"repository {owner}/{name}"
        url = self._api("repos", owner, name, "branches")
        return await self._pages(url, what, self._parser(Branch, f"the branches of {what}"))

    # webhooks
    async def create_hook(
        self,
        full_name: str,
        url: str,
        secret: str,
        events: Sequence[str] = ("push", "pull_request"),
    ) -> Hook:
        """A webhook sending JSON, signed with `secret`, TLS checked. If the repository
        has one for `url` already (an earlier connect), it is given the new secret and
        events instead."""
        owner, name = _repo(full_name)
        what = f"webhooks of {owner}/{name}"
        config = {"url": url, "content_type": "json", "insecure_ssl": "0", "secret": secret}
        body = {"name": "web", "active": True, "events": list(events), "config": config}
        self._scrub.add(secret)
        hooks = self._api("repos", owner, name, "hooks")
        answer = await self._wire.call("POST", hooks, what, json_body=body)
        if answer.status == 422 and "already exists" in answer.body.decode(errors="replace"):
            existing = await self._hook_for(owner, name, url)
            if existing is not None:
                update = {"active": True, "events": list(events), "config": config}
                answer = await self._wire.call(
                    "PATCH",
                    self._api("repos", owner, name, "hooks", _id(existing)),
                    what,
                    json_body=update,
                )
        self._wire.expect(answer, what, 200, 201)
        return self._wire.parse(Hook, answer.json(what), what)

    async def _hook_for(self, owner: str, name: str, url: str) -> int | None:
        what = f"webhooks of {owner}/{name}"
        hooks = self._api("repos", owner, name, "hooks")
        for hook in await self._pages(hooks, what, self._parser(Hook, what)):
            if hook.url == url:
                return hook.id
        return None

    async def hooks(self, full_name: str) -> list[Hook]:
        owner, name = _repo(full_name)
        what = f"webhooks of {owner}/{name}"
        url = self._api("repos", owner, name, "hooks")
        return await self._pages(url, what, self._parser(Hook, what))

    async def delete_hook(self, full_name: str, hook_id: int) -> None:
        """Remove the webhook; one that is gone already is no error."""
        owner, name = _repo(full_name)
        what = f"webhook {_id(hook_id)} on {owner}/{name}"
        url = self._api("repos", owner, name, "hooks", _id(hook_id))
        answer = await self._wire.call("DELETE", url, what)
        self._wire.expect(answer, what, 204, 404)

    async def deliveries(
        self, full_name: str, hook_id: int, *, limit: int = 100
    ) -> list[HookDelivery]:
        """The webhook's latest deliveries, newest first (at most `limit`)."""
        owner, name = _repo(full_name)
        what = f"deliveries of webhook {_id(hook_id)} on {owner}/{name}"
        url = self._api("repos", owner, name, "hooks", _id(hook_id), "deliveries")
        found = await self._pages(url, what, self._parser(HookDelivery, what), limit=limit)
        return found[:limit]

    async def redeliver(self, full_name: str, hook_id: int, delivery_id: int) -> None:
        owner, name = _repo(full_name)
        what = f"delivery {_id(delivery_id)} of webhook {_id(hook_id)} on {owner}/{name}"
        url = self._api(
            "repos",
            owner,
            name,
            "hooks",
            _id(hook_id),
            "deliveries",
            _id(delivery_id),
            "attempts",
        )
        self._wire.expect(await self._wire.call("POST", url, what), what, 200, 201, 202)

    # reporting back
    async def set_status(
        self,
        full_name: str,
        sha: str,
        state: CommitState,
        description: str,
        target_url: str | None = None,
        context: str = "deployd",
    ) -> None:
        owner, name = _repo(full_name)
        commit = _commit(sha)
        what = f"commit {commit[:12]} of {owner}/{name}"
        body: dict[str, Any] = {
            "state": state,
            "description": _short(description),
            "context": context,
        }
        if target_url is not None:
            body["target_url"] = target_url
        url = self._api("repos", owner, name, "statuses", commit)
        self._wire.expect(await self._wire.call("POST", url, what, json_body=body), what, 201)

    async def create_deployment(
        self,
        full_name: str,
        ref: str,
        environment: str,
        description: str,
        *,
        transient: bool = False,
        production: bool | None = None,
    ) -> int:
        """A GitHub deployment of `ref` (best a commit sha) to `environment`; returns its
        id. No required status checks and no auto-merge: deployd decides what it deploys."""
        owner, name = _repo(full_name)
        what = f"deployments of {owner}/{name}"
        body: dict[str, Any] = {
            "ref": ref,
            "environment": environment,
            "description": _short(description),
            "required_contexts": [],
            "auto_merge": False,
            "transient_environment": transient,
        }
        if production is not None:
            body["production_environment"] = production
        url = self._api("repos", owner, name, "deployments")
        answer = self._wire.expect(
            await self._wire.call("POST", url, what, json_body=body), what, 201
        )
        data = answer.json(what)
        found = data.get("id") if isinstance(data, dict) else None
        if not isinstance(found, int) or isinstance(found, bool):
            raise self._wire.fail(
                GitHubErrorKind.INVALID, f"GitHub's answer about {what} has no deployment id"
            )
        return found

    async def set_deployment_status(
        self,
        full_name: str,
        deployment_id: int,
        state: DeploymentState,
        environment_url: str | None,
        description: str,
        *,
        log_url: str | None = None,
    ) -> None:
        owner, name = _repo(full_name)
        what = f"deployment {_id(deployment_id)} of {owner}/{name}"
        body: dict[str, Any] = {"state": state, "description": _short(description)}
        if environment_url is not None:
            body["environment_url"] = environment_url
        if log_url is not None:
            body["log_url"] = log_url
        url = self._api("repos", owner, name, "deployments", _id(deployment_id), "statuses")
        self._wire.expect(await self._wire.call("POST", url, what, json_body=body), what, 201)

    # the plumbing
    def _api(self, *segments: str, **params: str) -> httpx.URL:
        for segment in segments:
            if segment in ("", ".", ".."):
                raise DomainError("an empty or dot segment in a GitHub API path")
        path = self._base.path.rstrip("/") + "".join("/" + quote(s, safe="") for s in segments)
        url = self._base.copy_with(path=path)
        return url.copy_merge_params(params) if params else url

    async def _get(self, url: httpx.URL, what: str) -> Any:
        answer = self._wire.expect(await self._wire.call("GET", url, what), what, 200)
        return answer.json(what)

    async def _one(self, model: type[M], what: str, *segments: str) -> M:
        return self._wire.parse(model, await self._get(self._api(*segments), what), what)

    def _parser(self, model: type[M], what: str) -> Callable[[Any], M]:
        return lambda item: self._wire.parse(model, item, what)

    async def _pages(
        self,
        url: httpx.URL,
        what: str,
        convert: Callable[[Any], T],
        *,
        limit: int | None = None,
    ) -> list[T]:
        """Every item of a list, page by page (GitHub's `Link` header), each made a record
        as its page comes (so only one page's JSON is held at a time)."""
        items: list[T] = []
        page: httpx.URL | None = url.copy_merge_params({"per_page": str(self.per_page)})
        for _ in range(MAX_PAGES):
            if page is None or (limit is not None and len(items) >= limit):
                return items
            answer: Answer = self._wire.expect(await self._wire.call("GET", page, what), what)
            data = answer.json(what)
            if not isinstance(data, list):
                raise self._wire.fail(
                    GitHubErrorKind.INVALID, f"GitHub's answer about {what} is not a list"
                )
            items += [convert(item) for item in data]
            page = self._next(answer, what)
        if page is not None:
            raise self._wire.fail(
                GitHubErrorKind.INVALID,
                f"{what} run past {MAX_PAGES} pages of {self.per_page}; deployd stopped there",
            )
        return items

    def _next(self, answer: Answer, what: str) -> httpx.URL | None:
        link = answer.next_page()
        if link is None:
            return None
        try:
            target = httpx.URL(link)
        except httpx.InvalidURL:
            target = None
        if target is None or origin(target) != origin(self._base):
            raise self._wire.fail(
                GitHubErrorKind.INVALID,
                f"GitHub's next page of {what} is on another host; deployd does not follow it",
            )
        return target

    def _repository(self, data: Any, what: str) -> Repository:
        repo = self._wire.parse(Repository, data, what)
        if not self.endpoints.on_web(repo.clone_url):
            raise self._wire.fail(
                GitHubErrorKind.INVALID,
                f"GitHub gave {excerpt(repo.full_name)} a clone URL off {self.endpoints.web_url}: "
                "deployd sends its token only there",
            )
        return repo


def _repo(full_name: str) -> tuple[str, str]:
    owner, name = check_repository(full_name).split("/")
    return owner, name


def _commit(sha: str) -> str:
    if not COMMIT.fullmatch(sha):
        raise DomainError(f"not a full commit sha: {excerpt(sha)}")
    return sha


def _id(number: int) -> str:
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise DomainError(f"GitHub ids are positive integers, not {excerpt(str(number))}")
    return str(number)


def _short(text: str) -> str:
    return text if len(text) <= DESCRIPTION_CHARS else text[: DESCRIPTION_CHARS - 1] + "…"
