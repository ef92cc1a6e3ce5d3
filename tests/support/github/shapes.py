"""The JSON GitHub answers with: the fields a client reads, named as GitHub names them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.support.github.gitstore import CommitInfo, Person
from tests.support.github.world import (
    Account,
    CommitStatus,
    Delivery,
    Deployment,
    DeploymentStatus,
    Hook,
    PullRequest,
    Repository,
)

Json = dict[str, Any]


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    return f"{kind}_kwDO{number:08d}"


@dataclass(frozen=True)
class Urls:
    web: str  # http://127.0.0.1:PORT, as https://github.example.com
    api: str  # http://127.0.0.1:PORT/api/v3

    @property
    def host(self) -> str:
        return self.web.split("://", 1)[1]


class Shapes:
    def __init__(self, urls: Urls) -> None:
        self.urls = urls

    def user(self, account: Account, *, private: bool = False) -> Json:
        api, login = self.urls.api, account.login
        shape: Json = {
            "login": login,
            "id": account.id,
            "node_id": node_id("U", account.id),
            "avatar_url": f"{self.urls.web}/avatars/{login}",
            "url": f"{api}/{'orgs' if account.type == 'Organization' else 'users'}/{login}",
            "html_url": f"{self.urls.web}/{login}",
            "repos_url": f"{api}/users/{login}/repos",
            "type": account.type,
            "site_admin": False,
        }
        if private:
            shape |= {"name": account.name, "email": account.email}
        return shape

    def repository(
        self, repo: Repository, owner: Account, permissions: dict[str, bool] | None = None
    ) -> Json:
        web, api, full = self.urls.web, self.urls.api, repo.full_name
        shape: Json = {
            "id": repo.id,
            "node_id": node_id("R", repo.id),
            "name": repo.name,
            "full_name": full,
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "owner": self.user(owner),
            "html_url": f"{web}/{full}",
            "description": repo.description,
            "fork": repo.parent is not None,
            "url": f"{api}/repos/{full}",
            "hooks_url": f"{api}/repos/{full}/hooks",
            "branches_url": f"{api}/repos/{full}/branches{{/branch}}",
            "pulls_url": f"{api}/repos/{full}/pulls{{/number}}",
            "deployments_url": f"{api}/repos/{full}/deployments",
            "clone_url": f"{web}/{full}.git",
            "git_url": f"git://{self.urls.host}/{full}.git",
            "ssh_url": f"git@{self.urls.host.split(':')[0]}:{full}.git",
            "default_branch": repo.default_branch,
            "archived": False,
            "disabled": False,
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.updated_at),
            "pushed_at": iso(repo.pushed_at),
        }
        if permissions is not None:
            shape["permissions"] = permissions
        return shape

    def push_repository(self, repo: Repository, owner: Account) -> Json:
        """The repository of a push event, as GitHub sends it: epoch seconds for two dates
        and an owner with `name` and `email` (a quirk of this one payload)."""
        shape = self.repository(repo, owner)
        shape["owner"] |= {"name": owner.login, "email": owner.email}
        shape["created_at"] = int(repo.created_at)
        shape["pushed_at"] = int(repo.pushed_at or repo.created_at)
        shape["master_branch"] = repo.default_branch
        return shape

    def git_person(self, person: Person) -> Json:
        return {"name": person.name, "email": person.email, "date": person.date}

    def commit(self, repo: Repository, info: CommitInfo) -> Json:
        web, api, full = self.urls.web, self.urls.api, repo.full_name
        return {
            "sha": info.sha,
            "node_id": node_id("C", int(info.sha[:7], 16)),
            "commit": {
                "author": self.git_person(info.author),
                "committer": self.git_person(info.committer),
                "message": info.message,
                "tree": {"sha": info.tree, "url": f"{api}/repos/{full}/git/trees/{info.tree}"},
                "url": f"{api}/repos/{full}/git/commits/{info.sha}",
                "comment_count": 0,
            },
            "url": f"{api}/repos/{full}/commits/{info.sha}",
            "html_url": f"{web}/{full}/commit/{info.sha}",
            "author": None,  # no GitHub account has the test identity's address
            "committer": None,
            "parents": [
                {
                    "sha": parent,
                    "url": f"{api}/repos/{full}/commits/{parent}",
                    "html_url": f"{web}/{full}/commit/{parent}",
                }
                for parent in info.parents
            ],
        }

    def branch(self, repo: Repository, name: str, sha: str) -> Json:
        return {
            "name": name,
            "commit": {"sha": sha, "url": f"{self.urls.api}/repos/{repo.full_name}/commits/{sha}"},
            "protected": False,
        }

    def hook(self, hook: Hook) -> Json:
        base = f"{self.urls.api}/repos/{hook.repo}/hooks/{hook.id}"
        config: Json = {
            "content_type": hook.content_type,
            "insecure_ssl": hook.insecure_ssl,
            "url": hook.url,
        }
        if hook.secret is not None:
            config["secret"] = "********"  # GitHub never gives a secret back
        return {
            "type": "Repository",
            "id": hook.id,
            "name": "web",
            "active": hook.active,
            "events": list(hook.events),
            "config": config,
            "updated_at": iso(hook.updated_at),
            "created_at": iso(hook.created_at),
            "url": base,
            "test_url": f"{base}/test",
            "ping_url": f"{base}/pings",
            "deliveries_url": f"{base}/deliveries",
            "last_response": dict(hook.last_response),
        }

    def delivery(self, delivery: Delivery, *, full: bool = False) -> Json:
        shape: Json = {
            "id": delivery.id,
            "guid": delivery.guid,
            "delivered_at": iso(delivery.delivered_at),
            "redelivery": delivery.redelivery,
            "duration": round(delivery.duration, 3),
            "status": delivery.status,
            "status_code": delivery.status_code,
            "event": delivery.event,
            "action": delivery.action,
            "installation_id": None,
            "repository_id": delivery.repository_id,
            "throttled_at": None,
        }
        if full:
            shape["url"] = delivery.url
            shape["request"] = {
                "headers": delivery.request_headers,
                "payload": _payload_of(delivery.request_body),
            }
            shape["response"] = {
                "headers": delivery.response_headers,
                "payload": delivery.response_body,
            }
        return shape

    def status(self, status: CommitStatus, creator: Account) -> Json:
        url = f"{self.urls.api}/repos/{status.repo}/statuses/{status.sha}"
        return {
            "url": url,
            "avatar_url": None,
            "id": status.id,
            "node_id": node_id("SC", status.id),
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": iso(status.created_at),
            "updated_at": iso(status.created_at),
            "creator": self.user(creator),
        }

    def deployment(self, deployment: Deployment, creator: Account) -> Json:
        repo_url = f"{self.urls.api}/repos/{deployment.repo}"
        url = f"{repo_url}/deployments/{deployment.id}"
        return {
            "url": url,
            "id": deployment.id,
            "node_id": node_id("DE", deployment.id),
            "sha": deployment.sha,
            "ref": deployment.ref,
            "task": deployment.task,
            "payload": deployment.payload,
            "original_environment": deployment.original_environment,
            "environment": deployment.environment,
            "description": deployment.description,
            "creator": self.user(creator),
            "created_at": iso(deployment.created_at),
            "updated_at": iso(
                deployment.statuses[-1].created_at if deployment.statuses else deployment.created_at
            ),
            "statuses_url": f"{url}/statuses",
            "repository_url": repo_url,
            "transient_environment": deployment.transient_environment,
            "production_environment": deployment.production_environment,
        }

    def deployment_status(self, repo: str, status: DeploymentStatus, creator: Account) -> Json:
        repo_url = f"{self.urls.api}/repos/{repo}"
        deployment_url = f"{repo_url}/deployments/{status.deployment_id}"
        return {
            "url": f"{deployment_url}/statuses/{status.id}",
            "id": status.id,
            "node_id": node_id("DES", status.id),
            "state": status.state,
            "creator": self.user(creator),
            "description": status.description,
            "environment": status.environment,
            "target_url": status.target_url,
            "log_url": status.log_url,
            "environment_url": status.environment_url,
            "created_at": iso(status.created_at),
            "updated_at": iso(status.created_at),
            "deployment_url": deployment_url,
            "repository_url": repo_url,
        }

    def pull_request(
        self,
        pull: PullRequest,
        base: tuple[Repository, Account],
        head: tuple[Repository, Account],
        base_sha: str,
        author: Account,
    ) -> Json:
        web, api = self.urls.web, self.urls.api
        url = f"{api}/repos/{pull.repo}/pulls/{pull.number}"

        def end(repo: Repository, owner: Account, ref: str, sha: str) -> Json:
            return {
                "label": f"{owner.login}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": self.user(owner),
                "repo": self.repository(repo, owner),
            }

        return {
            "url": url,
            "id": pull.id,
            "node_id": node_id("PR", pull.id),
            "html_url": f"{web}/{pull.repo}/pull/{pull.number}",
            "diff_url": f"{web}/{pull.repo}/pull/{pull.number}.diff",
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.user(author),
            "body": pull.body,
            "created_at": iso(pull.created_at),
            "updated_at": iso(pull.updated_at),
            "closed_at": iso(pull.closed_at),
            "merged_at": iso(pull.merged_at),
            "merge_commit_sha": pull.merge_commit_sha,
            "draft": False,
            "head": end(*head, pull.head_ref, pull.head_sha),
            "base": end(*base, pull.base_ref, base_sha),
            "merged": pull.merged,
            "mergeable": None if pull.state == "closed" else True,
            "statuses_url": f"{api}/repos/{pull.repo}/statuses/{pull.head_sha}",
        }


def _payload_of(body: bytes) -> Any:
    import json
    from urllib.parse import parse_qs

    text = body.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        form = parse_qs(text)
        if "payload" in form:
            try:
                return json.loads(form["payload"][0])
            except ValueError:
                return None
        return None
