"""REST routes for who you are and what you can read: users, repositories, branches,
commits, pull requests."""

from __future__ import annotations

from tests.support.github.api import Api, Call, error, invalid, not_found
from tests.support.github.shapes import Json
from tests.support.github.wire import Response
from tests.support.github.world import Repository


def install(api: Api) -> None:
    routes = RepoRoutes(api)
    api.route("GET", "/user", routes.me)
    api.route("GET", "/users/{login}", routes.user)
    api.route("GET", "/user/repos", routes.my_repos)
    api.route("GET", "/users/{login}/repos", routes.user_repos)
    api.route("GET", "/orgs/{org}/repos", routes.org_repos)
    api.route("GET", "/repos/{owner}/{name}", routes.repo)
    api.route("GET", "/repos/{owner}/{name}/branches", routes.branches)
    api.route("GET", "/repos/{owner}/{name}/branches/{branch+}", routes.branch)
    api.route("GET", "/repos/{owner}/{name}/commits/{ref+}", routes.commit)
    api.route("GET", "/repos/{owner}/{name}/pulls", routes.pulls)
    api.route("GET", "/repos/{owner}/{name}/pulls/{number}", routes.pull)


class RepoRoutes:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.world = api.world
        self.shapes = api.shapes

    def me(self, call: Call) -> Response:
        login = self.api.require_login(call)
        account = self.world.account(login)
        assert account is not None
        return Response.json(200, self.shapes.user(account, private=True))

    def user(self, call: Call, login: str) -> Response:
        account = self.world.account(login)
        if account is None:
            raise not_found()
        return Response.json(200, self.shapes.user(account))

    def _json(self, call: Call, repo: Repository) -> Json:
        owner = self.world.account(repo.owner)
        assert owner is not None
        granted = self.world.permission(call.login, repo)
        rank = {"pull": 1, "push": 2, "admin": 3}.get(granted or "", 0)
        permissions = {
            "admin": rank >= 3,
            "maintain": rank >= 3,
            "push": rank >= 2,
            "triage": rank >= 2,
            "pull": rank >= 1,
        }
        return self.shapes.repository(repo, owner, permissions if call.token else None)

    def _listing(
        self, call: Call, repos: list[Repository], path: str, default_sort: str
    ) -> Response:
        sort = call.request.arg("sort") or default_sort
        direction = call.request.arg("direction") or ("asc" if sort == "full_name" else "desc")
        keys = {
            "full_name": lambda r: r.full_name.lower(),
            "created": lambda r: (r.created_at, r.id),
            "updated": lambda r: (r.updated_at, r.id),
            "pushed": lambda r: (r.pushed_at or 0, r.id),
        }
        if sort not in keys or direction not in ("asc", "desc"):
            raise invalid("Repository", "sort" if sort not in keys else "direction")
        ordered = sorted(repos, key=keys[sort], reverse=direction == "desc")
        return self.api.paginate(call, [self._json(call, r) for r in ordered], path)

    def my_repos(self, call: Call) -> Response:
        login = self.api.require_login(call).lower()
        arg = call.request.arg
        kind = arg("type")
        if kind and (arg("visibility") or arg("affiliation")):
            raise error(422, "If you specify visibility or affiliation, you cannot specify type.")
        visibility = {"public": "public", "private": "private"}.get(kind or "", arg("visibility"))
        affiliation = (arg("affiliation") or "owner,collaborator,organization_member").split(",")
        if kind == "owner":
            affiliation = ["owner"]
        elif kind == "member":
            affiliation = ["collaborator", "organization_member"]
        chosen = []
        with self.world.lock:
            for repo in self.world.repos.values():
                owner = self.world.account(repo.owner)
                member = owner is not None and login in owner.members
                ties = {
                    "owner": repo.owner.lower() == login,
                    "organization_member": member,
                    "collaborator": login in repo.collaborators,
                }
                if not any(ties[a] for a in affiliation if a in ties):
                    continue
                if visibility in ("public", "private") and repo.private != (
                    visibility == "private"
                ):
                    continue
                if self.world.may(call.token, repo, "pull"):
                    chosen.append(repo)
        return self._listing(call, chosen, "/user/repos", "full_name")

    def user_repos(self, call: Call, login: str) -> Response:
        if self.world.account(login) is None:
            raise not_found()
        with self.world.lock:
            chosen = [
                repo
                for repo in self.world.repos.values()
                if repo.owner.lower() == login.lower() and self.world.may(call.token, repo, "pull")
            ]
        return self._listing(call, chosen, f"/users/{login}/repos", "full_name")

    def org_repos(self, call: Call, org: str) -> Response:
        account = self.world.account(org)
        if account is None or account.type != "Organization":
            raise not_found()
        kind = call.request.arg("type") or "all"
        with self.world.lock:
            chosen = []
            for repo in self.world.repos.values():
                if repo.owner.lower() != org.lower() or not self.world.may(
                    call.token, repo, "pull"
                ):
                    continue
                if kind in ("public", "private") and repo.private != (kind == "private"):
                    continue
                if (kind == "forks") != (repo.parent is not None) and kind in ("forks", "sources"):
                    continue
                chosen.append(repo)
        return self._listing(call, chosen, f"/orgs/{org}/repos", "created")

    def repo(self, call: Call, owner: str, name: str) -> Response:
        repo = self.api.repository(call, owner, name)
        shape = self._json(call, repo)
        if repo.parent is not None:
            parent = self.world.repo(repo.parent)
            if parent is not None:
                shape["parent"] = shape["source"] = self._json(call, parent)
        return Response.json(200, shape)

    def branches(self, call: Call, owner: str, name: str) -> Response:
        repo = self.api.repository(call, owner, name)
        items = [self.shapes.branch(repo, b, sha) for b, sha in sorted(repo.git.branches().items())]
        if call.request.arg("protected") == "true":
            items = []  # the stand-in protects no branch
        return self.api.paginate(call, items, f"/repos/{repo.full_name}/branches")

    def branch(self, call: Call, owner: str, name: str, branch: str) -> Response:
        repo = self.api.repository(call, owner, name)
        sha = repo.git.branch_sha(branch)
        if sha is None:
            raise error(404, "Branch not found")
        api = self.shapes.urls.api
        return Response.json(
            200,
            {
                "name": branch,
                "commit": self.shapes.commit(repo, repo.git.info(sha)),
                "_links": {
                    "self": f"{api}/repos/{repo.full_name}/branches/{branch}",
                    "html": f"{self.shapes.urls.web}/{repo.full_name}/tree/{branch}",
                },
                "protected": False,
            },
        )

    def commit(self, call: Call, owner: str, name: str, ref: str) -> Response:
        repo = self.api.repository(call, owner, name)
        if not repo.git.branches():
            raise error(409, "Git Repository is empty.")
        sha = repo.git.resolve(ref)
        if sha is None:
            raise error(422, f"No commit found for SHA: {ref}")
        if "application/vnd.github.sha" in (call.request.header("Accept") or ""):
            return Response.text(200, sha, "application/vnd.github.sha")
        return Response.json(200, self.shapes.commit(repo, repo.git.info(sha)))

    def pulls(self, call: Call, owner: str, name: str) -> Response:
        repo = self.api.repository(call, owner, name)
        state = call.request.arg("state") or "open"
        head, base = call.request.arg("head"), call.request.arg("base")
        with self.world.lock:
            chosen = [
                pull
                for (full_name, _), pull in self.world.pulls.items()
                if full_name == repo.full_name
                and state in (pull.state, "all")
                and (base is None or pull.base_ref == base)
                and (head is None or head == f"{pull.head_repo.split('/')[0]}:{pull.head_ref}")
            ]
        chosen.sort(key=lambda p: p.number, reverse=True)
        items = [self.api.events.pull(pull) for pull in chosen]
        return self.api.paginate(call, items, f"/repos/{repo.full_name}/pulls")

    def pull(self, call: Call, owner: str, name: str, number: str) -> Response:
        repo = self.api.repository(call, owner, name)
        pull = self.world.pulls.get((repo.full_name, int(number))) if number.isdigit() else None
        if pull is None:
            raise not_found()
        return Response.json(200, self.api.events.pull(pull))
