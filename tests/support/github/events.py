"""Webhook payloads: push, pull_request, ping, status, deployment, deployment_status."""

from __future__ import annotations

from typing import Any

from tests.support.github.gitstore import ZERO_SHA, CommitInfo
from tests.support.github.shapes import Json, Shapes
from tests.support.github.world import (
    Account,
    CommitStatus,
    Deployment,
    DeploymentStatus,
    Hook,
    PullRequest,
    Repository,
    World,
)

ZEN = "Design for failure."


class Events:
    def __init__(self, world: World, shapes: Shapes) -> None:
        self.world = world
        self.shapes = shapes

    def _owner(self, repo: Repository) -> Account:
        owner = self.world.account(repo.owner)
        assert owner is not None
        return owner

    def _sender(self, login: str) -> Json:
        account = self.world.account(login)
        assert account is not None
        return self.shapes.user(account)

    def _push_commit(self, repo: Repository, info: CommitInfo, pusher: str) -> Json:
        changes = repo.git.changes(info.sha)
        return {
            "id": info.sha,
            "tree_id": info.tree,
            "distinct": True,
            "message": info.message,
            "timestamp": info.committer.date,
            "url": f"{self.shapes.urls.web}/{repo.full_name}/commit/{info.sha}",
            "author": {"name": info.author.name, "email": info.author.email, "username": pusher},
            "committer": {
                "name": info.committer.name,
                "email": info.committer.email,
                "username": pusher,
            },
            "added": changes.added,
            "removed": changes.removed,
            "modified": changes.modified,
        }

    def push(
        self, repo: Repository, ref: str, before: str, after: str, commits: list[str], pusher: str
    ) -> Json:
        infos = [repo.git.info(sha) for sha in commits]
        listed = [self._push_commit(repo, info, pusher) for info in infos[-20:]]
        head = None
        if after != ZERO_SHA:
            head = listed[-1] if infos and infos[-1].sha == after else None
            head = head or self._push_commit(repo, repo.git.info(after), pusher)
        account = self.world.account(pusher)
        web = self.shapes.urls.web
        return {
            "ref": ref,
            "before": before,
            "after": after,
            "repository": self.shapes.push_repository(repo, self._owner(repo)),
            "pusher": {"name": pusher, "email": account.email if account else None},
            "sender": self._sender(pusher),
            "created": before == ZERO_SHA,
            "deleted": after == ZERO_SHA,
            "forced": before != ZERO_SHA
            and after != ZERO_SHA
            and not repo.git.is_ancestor(before, after),
            "base_ref": None,
            "compare": f"{web}/{repo.full_name}/compare/{before[:12]}...{after[:12]}",
            "commits": listed,
            "head_commit": head,
        }

    def pull_request(
        self, pull: PullRequest, action: str, sender: str, **extra: Any
    ) -> tuple[Repository, Json]:
        base = self.world.repo(pull.repo)
        assert base is not None
        return base, {
            "action": action,
            "number": pull.number,
            "pull_request": self.pull(pull),
            **extra,
            "repository": self.shapes.repository(base, self._owner(base)),
            "sender": self._sender(sender),
        }

    def pull(self, pull: PullRequest) -> Json:
        base = self.world.repo(pull.repo)
        head = self.world.repo(pull.head_repo)
        author = self.world.account(pull.user)
        assert base is not None and head is not None and author is not None
        base_sha = base.git.branch_sha(pull.base_ref) or ZERO_SHA
        return self.shapes.pull_request(
            pull, (base, self._owner(base)), (head, self._owner(head)), base_sha, author
        )

    def ping(self, hook: Hook, repo: Repository, sender: str) -> Json:
        return {
            "zen": ZEN,
            "hook_id": hook.id,
            "hook": self.shapes.hook(hook),
            "repository": self.shapes.repository(repo, self._owner(repo)),
            "sender": self._sender(sender),
        }

    def status(self, repo: Repository, status: CommitStatus) -> Json:
        creator = self.world.account(status.creator)
        assert creator is not None
        info = repo.git.info(status.sha)
        branches = [
            self.shapes.branch(repo, name, sha)
            for name, sha in repo.git.branches().items()
            if sha == status.sha
        ]
        return {
            "id": status.id,
            "sha": status.sha,
            "name": repo.full_name,
            "target_url": status.target_url,
            "context": status.context,
            "description": status.description,
            "state": status.state,
            "commit": self.shapes.commit(repo, info),
            "branches": branches,
            "created_at": self.shapes.status(status, creator)["created_at"],
            "updated_at": self.shapes.status(status, creator)["updated_at"],
            "repository": self.shapes.repository(repo, self._owner(repo)),
            "sender": self.shapes.user(creator),
        }

    def deployment(self, repo: Repository, deployment: Deployment) -> Json:
        creator = self.world.account(deployment.creator)
        assert creator is not None
        return {
            "action": "created",
            "deployment": self.shapes.deployment(deployment, creator),
            "repository": self.shapes.repository(repo, self._owner(repo)),
            "sender": self.shapes.user(creator),
        }

    def deployment_status(
        self, repo: Repository, deployment: Deployment, status: DeploymentStatus
    ) -> Json:
        creator = self.world.account(status.creator)
        deployer = self.world.account(deployment.creator)
        assert creator is not None and deployer is not None
        return {
            "action": "created",
            "deployment_status": self.shapes.deployment_status(repo.full_name, status, creator),
            "deployment": self.shapes.deployment(deployment, deployer),
            "repository": self.shapes.repository(repo, self._owner(repo)),
            "sender": self.shapes.user(creator),
        }
