"""REST routes that report back to GitHub: commit statuses, deployments and their statuses."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.support.github.api import Api, Call, error, invalid, not_found
from tests.support.github.wire import Response
from tests.support.github.world import CommitStatus, Deployment, DeploymentStatus, Repository

STATUS_SCOPES = ("repo", "repo:status")
DEPLOY_SCOPES = ("repo", "repo_deployment")
COMMIT_STATES = ("error", "failure", "pending", "success")
DEPLOY_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
REPO = "/repos/{owner}/{name}"


def install(api: Api) -> None:
    """Before the repository routes: `commits/{ref+}` would take `.../statuses` too."""
    r = StatusRoutes(api)
    api.route("POST", REPO + "/statuses/{sha}", r.create_status, *STATUS_SCOPES)
    api.route("GET", REPO + "/commits/{ref+}/statuses", r.statuses, *STATUS_SCOPES)
    api.route("GET", REPO + "/commits/{ref+}/status", r.combined, *STATUS_SCOPES)
    api.route("POST", REPO + "/deployments", r.create_deployment, *DEPLOY_SCOPES)
    api.route("GET", REPO + "/deployments", r.deployments, *DEPLOY_SCOPES)
    api.route("GET", REPO + "/deployments/{deployment_id}", r.deployment, *DEPLOY_SCOPES)
    api.route(
        "POST",
        REPO + "/deployments/{deployment_id}/statuses",
        r.create_deploy_status,
        *DEPLOY_SCOPES,
    )
    api.route(
        "GET", REPO + "/deployments/{deployment_id}/statuses", r.deploy_statuses, *DEPLOY_SCOPES
    )


def _text(body: dict[str, Any], key: str, default: str | None) -> str | None:
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise invalid("Status", key)
    return value


class StatusRoutes:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.world = api.world
        self.shapes = api.shapes

    def _writable(self, call: Call, owner: str, name: str, scopes: tuple[str, ...]) -> Repository:
        repo = self.api.repository(call, owner, name, "push")
        self.api.require_scope(call, *scopes)
        return repo

    def _account(self, login: str) -> Any:
        account = self.world.account(login)
        assert account is not None
        return account

    # commit statuses
    def create_status(self, call: Call, owner: str, name: str, sha: str) -> Response:
        repo = self._writable(call, owner, name, STATUS_SCOPES)
        body = call.body()
        full = repo.git.resolve(sha) if re.fullmatch(r"[0-9a-fA-F]{4,40}", sha) else None
        if full is None:
            raise error(422, f"No commit found for SHA: {sha}")
        state = body.get("state")
        if state not in COMMIT_STATES:
            raise invalid("Status", "state", "missing_field" if state is None else "invalid")
        status = CommitStatus(
            id=self.world.new_id(),
            repo=repo.full_name,
            sha=full,
            state=state,
            target_url=_text(body, "target_url", None),
            description=_text(body, "description", None),
            context=_text(body, "context", "default") or "default",
            creator=self.api.require_login(call),
            created_at=self.world.now(),
        )
        with self.world.lock:
            self.world.statuses.append(status)
        self.api.dispatcher.emit(repo, "status", self.api.events.status(repo, status))
        shape = self.shapes.status(status, self._account(status.creator))
        return Response.json(201, shape, [("Location", shape["url"])])

    def _statuses_of(self, repo: Repository, ref: str) -> tuple[str, list[CommitStatus]]:
        sha = repo.git.resolve(ref)
        if sha is None:
            raise error(422, f"No commit found for SHA: {ref}")
        with self.world.lock:
            found = [s for s in self.world.statuses if s.repo == repo.full_name and s.sha == sha]
        return sha, sorted(found, key=lambda s: s.id, reverse=True)

    def statuses(self, call: Call, owner: str, name: str, ref: str) -> Response:
        repo = self.api.repository(call, owner, name)
        _, found = self._statuses_of(repo, ref)
        items = [self.shapes.status(s, self._account(s.creator)) for s in found]
        return self.api.paginate(call, items, f"/repos/{repo.full_name}/commits/{ref}/statuses")

    def combined(self, call: Call, owner: str, name: str, ref: str) -> Response:
        repo = self.api.repository(call, owner, name)
        sha, found = self._statuses_of(repo, ref)
        latest: dict[str, CommitStatus] = {}
        for status in found:  # newest first: the first of each context wins
            latest.setdefault(status.context, status)
        states = {s.state for s in latest.values()}
        if states & {"error", "failure"}:
            state = "failure"
        elif not states or "pending" in states:
            state = "pending"
        else:
            state = "success"
        api = self.shapes.urls.api
        owner_account = self._account(repo.owner)
        return Response.json(
            200,
            {
                "state": state,
                "statuses": [
                    self.shapes.status(s, self._account(s.creator)) for s in latest.values()
                ],
                "sha": sha,
                "total_count": len(latest),
                "repository": self.shapes.repository(repo, owner_account),
                "commit_url": f"{api}/repos/{repo.full_name}/commits/{sha}",
                "url": f"{api}/repos/{repo.full_name}/commits/{sha}/status",
            },
        )

    # deployments
    def create_deployment(self, call: Call, owner: str, name: str) -> Response:
        repo = self._writable(call, owner, name, DEPLOY_SCOPES)
        body = call.body()
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref:
            raise invalid("Deployment", "ref", "missing_field")
        sha = repo.git.resolve(ref)
        if sha is None:
            raise error(422, f"No ref found for: {ref}")
        if body.get("auto_merge", True):
            merged = self._auto_merge(call, repo, ref, sha)
            if merged is not None:
                return merged
        self._check_contexts(repo, ref, sha, body.get("required_contexts"))
        environment = str(body.get("environment") or "production")
        deployment = Deployment(
            id=self.world.new_id(),
            repo=repo.full_name,
            sha=sha,
            ref=ref,
            task=str(body.get("task") or "deploy"),
            payload=body.get("payload", ""),
            environment=environment,
            original_environment=environment,
            description=body.get("description", ""),
            creator=self.api.require_login(call),
            created_at=self.world.now(),
            transient_environment=bool(body.get("transient_environment", False)),
            production_environment=bool(
                body.get("production_environment", environment == "production")
            ),
        )
        with self.world.lock:
            self.world.deployments[deployment.id] = deployment
        self.api.dispatcher.emit(repo, "deployment", self.api.events.deployment(repo, deployment))
        shape = self.shapes.deployment(deployment, self._account(deployment.creator))
        return Response.json(201, shape, [("Location", shape["url"])])

    def _auto_merge(self, call: Call, repo: Repository, ref: str, sha: str) -> Response | None:
        """GitHub merges the default branch into a branch that is behind it, and answers 202
        instead of deploying; or 409 when they conflict."""
        default = repo.git.branch_sha(repo.default_branch)
        if default is None or repo.git.branch_sha(ref) != sha or ref == repo.default_branch:
            return None
        if repo.git.is_ancestor(default, sha):
            return None
        message = f"Merge branch '{repo.default_branch}' into {ref}"
        merged = repo.git.merge(sha, default, message)
        if merged is None:
            raise error(409, f"Conflict merging {repo.default_branch} into {ref}.")
        self.api.push_ref(repo, ref, merged, call.login or repo.owner)
        message = f"Auto-merged {repo.default_branch} into {ref} on deployment."
        return Response.json(202, {"message": message})

    def _check_contexts(self, repo: Repository, ref: str, sha: str, required: Any) -> None:
        with self.world.lock:
            found = sorted(
                (s for s in self.world.statuses if s.repo == repo.full_name and s.sha == sha),
                key=lambda s: s.id,
            )
        latest = {s.context: s.state for s in found}  # the last one of each context
        if required is None:
            required = list(latest)
        if not isinstance(required, list):
            raise invalid("Deployment", "required_contexts")
        failed = [c for c in required if latest.get(c) != "success"]
        if failed:
            contexts = [{"context": c, "state": latest.get(c, "missing")} for c in failed]
            raise error(
                409,
                f"Conflict: Commit status checks failed for {ref}.",
                errors=[
                    {
                        "contexts": contexts,
                        "resource": "Deployment",
                        "field": "required_contexts",
                        "code": "invalid",
                    }
                ],
            )

    def _deployments(
        self, repo: Repository, keep: Callable[[Deployment], bool]
    ) -> list[Deployment]:
        with self.world.lock:
            found = [d for d in self.world.deployments.values() if d.repo == repo.full_name]
        return sorted((d for d in found if keep(d)), key=lambda d: d.id, reverse=True)

    def deployments(self, call: Call, owner: str, name: str) -> Response:
        repo = self.api.repository(call, owner, name)
        arg = call.request.arg

        def keep(d: Deployment) -> bool:
            wanted = {"sha": d.sha, "ref": d.ref, "task": d.task, "environment": d.environment}
            return all(arg(key) in (None, value) for key, value in wanted.items())

        items = [
            self.shapes.deployment(d, self._account(d.creator))
            for d in self._deployments(repo, keep)
        ]
        return self.api.paginate(call, items, f"/repos/{repo.full_name}/deployments")

    def _deployment(self, repo: Repository, deployment_id: str) -> Deployment:
        found = self.world.deployments.get(int(deployment_id)) if deployment_id.isdigit() else None
        if found is None or found.repo != repo.full_name:
            raise not_found()
        return found

    def deployment(self, call: Call, owner: str, name: str, deployment_id: str) -> Response:
        repo = self.api.repository(call, owner, name)
        found = self._deployment(repo, deployment_id)
        return Response.json(200, self.shapes.deployment(found, self._account(found.creator)))

    def create_deploy_status(
        self, call: Call, owner: str, name: str, deployment_id: str
    ) -> Response:
        repo = self._writable(call, owner, name, DEPLOY_SCOPES)
        deployment = self._deployment(repo, deployment_id)
        body = call.body()
        state = body.get("state")
        if state not in DEPLOY_STATES:
            raise invalid("DeploymentStatus", "state")
        log_url = str(body.get("log_url") or body.get("target_url") or "")
        with self.world.lock:
            if body.get("environment"):
                deployment.environment = str(body["environment"])
            status = DeploymentStatus(
                id=self.world.new_id(),
                deployment_id=deployment.id,
                state=state,
                description=str(body.get("description") or ""),
                environment=deployment.environment,
                target_url=log_url,
                log_url=log_url,
                environment_url=str(body.get("environment_url") or ""),
                creator=self.api.require_login(call),
                created_at=self.world.now(),
            )
            deployment.statuses.append(status)
            if state == "success" and body.get("auto_inactive", True):
                self._retire_others(repo, deployment, status.creator)
        payload = self.api.events.deployment_status(repo, deployment, status)
        self.api.dispatcher.emit(repo, "deployment_status", payload)
        shape = self.shapes.deployment_status(repo.full_name, status, self._account(status.creator))
        return Response.json(201, shape, [("Location", shape["url"])])

    def _retire_others(self, repo: Repository, current: Deployment, creator: str) -> None:
        """auto_inactive: earlier non-transient, non-production deployments to the same
        environment whose last state was success get an `inactive` status."""
        for other in self.world.deployments.values():
            if (
                other.repo != repo.full_name
                or other.id >= current.id
                or other.environment != current.environment
                or other.transient_environment
                or other.production_environment
                or not other.statuses
                or other.statuses[-1].state != "success"
            ):
                continue
            other.statuses.append(
                DeploymentStatus(
                    self.world.new_id(),
                    other.id,
                    "inactive",
                    "",
                    other.environment,
                    "",
                    "",
                    "",
                    creator,
                    self.world.now(),
                )
            )

    def deploy_statuses(self, call: Call, owner: str, name: str, deployment_id: str) -> Response:
        repo = self.api.repository(call, owner, name)
        found = self._deployment(repo, deployment_id)
        items = [
            self.shapes.deployment_status(repo.full_name, s, self._account(s.creator))
            for s in reversed(found.statuses)
        ]
        path = f"/repos/{repo.full_name}/deployments/{found.id}/statuses"
        return self.api.paginate(call, items, path)
