"""REST routes for repository webhooks, their deliveries and redeliveries."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.support.github.api import Api, Call, error, invalid, not_found, number_arg
from tests.support.github.wire import Response
from tests.support.github.world import Delivery, Hook, Repository

READ = ("admin:repo_hook", "read:repo_hook", "repo", "write:repo_hook")
WRITE = ("admin:repo_hook", "repo", "write:repo_hook")
DELETE = ("admin:repo_hook", "repo")
HOOKS = "/repos/{owner}/{name}/hooks"


def install(api: Api) -> None:
    routes = HookRoutes(api)
    api.route("POST", HOOKS, routes.create, *WRITE)
    api.route("GET", HOOKS, routes.index, *READ)
    api.route("GET", HOOKS + "/{hook_id}", routes.get, *READ)
    api.route("PATCH", HOOKS + "/{hook_id}", routes.update, *WRITE)
    api.route("DELETE", HOOKS + "/{hook_id}", routes.delete, *DELETE)
    api.route("POST", HOOKS + "/{hook_id}/pings", routes.ping, *READ)
    api.route("GET", HOOKS + "/{hook_id}/deliveries", routes.deliveries, *READ)
    api.route("GET", HOOKS + "/{hook_id}/deliveries/{delivery_id}", routes.delivery, *READ)
    api.route(
        "POST", HOOKS + "/{hook_id}/deliveries/{delivery_id}/attempts", routes.redeliver, *WRITE
    )


def custom(message: str) -> Exception:
    return error(
        422,
        "Validation Failed",
        errors=[{"resource": "Hook", "code": "custom", "message": message}],
    )


class HookRoutes:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.world = api.world

    def _repo(self, call: Call, owner: str, name: str, scopes: tuple[str, ...]) -> Repository:
        repo = self.api.repository(call, owner, name, "admin")
        self.api.require_scope(call, *scopes)
        return repo

    def _hook(self, repo: Repository, hook_id: str) -> Hook:
        hook = self.world.hooks.get(int(hook_id)) if hook_id.isdigit() else None
        if hook is None or hook.repo != repo.full_name:
            raise not_found()
        return hook

    def _configure(self, hook: Hook, config: Any) -> None:
        if not isinstance(config, dict):
            raise invalid("Hook", "config")
        url = config.get("url", hook.url)
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise custom("Config must contain URL for webhooks")
        content_type = config.get("content_type", hook.content_type)
        if content_type not in ("json", "form"):
            raise invalid("Hook", "content_type")
        insecure = str(config.get("insecure_ssl", hook.insecure_ssl))
        if insecure not in ("0", "1"):
            raise invalid("Hook", "insecure_ssl")
        hook.url, hook.content_type, hook.insecure_ssl = url, content_type, insecure
        if "secret" in config:
            hook.secret = str(config["secret"]) if config["secret"] else None

    def create(self, call: Call, owner: str, name: str) -> Response:
        repo = self._repo(call, owner, name, WRITE)
        body = call.body()
        if body.get("name", "web") != "web":
            raise invalid("Hook", "name")
        events = body.get("events", ["push"])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise invalid("Hook", "events")
        now = self.world.now()
        hook = Hook(
            id=self.world.new_id(),
            repo=repo.full_name,
            url="",
            secret=None,
            content_type="form",  # GitHub's default; clients that want JSON must say so
            insecure_ssl="0",
            events=events,
            active=bool(body.get("active", True)),
            created_at=now,
            updated_at=now,
        )
        self._configure(hook, body.get("config"))
        with self.world.lock:
            if any(
                h.repo == repo.full_name and h.url == hook.url for h in self.world.hooks.values()
            ):
                raise custom("Hook already exists on this repository")
            self.world.hooks[hook.id] = hook
        self.api.dispatcher.emit(
            repo, "ping", self.api.events.ping(hook, repo, call.login or repo.owner), only=hook
        )
        location = [
            ("Location", f"{self.api.shapes.urls.api}/repos/{repo.full_name}/hooks/{hook.id}")
        ]
        return Response.json(201, self.api.shapes.hook(hook), location)

    def index(self, call: Call, owner: str, name: str) -> Response:
        repo = self._repo(call, owner, name, READ)
        with self.world.lock:
            hooks = [
                self.api.shapes.hook(h)
                for h in self.world.hooks.values()
                if h.repo == repo.full_name
            ]
        return self.api.paginate(call, hooks, f"/repos/{repo.full_name}/hooks")

    def get(self, call: Call, owner: str, name: str, hook_id: str) -> Response:
        repo = self._repo(call, owner, name, READ)
        return Response.json(200, self.api.shapes.hook(self._hook(repo, hook_id)))

    def update(self, call: Call, owner: str, name: str, hook_id: str) -> Response:
        repo = self._repo(call, owner, name, WRITE)
        body = call.body()
        with self.world.lock:
            hook = self._hook(repo, hook_id)
            if "config" in body:
                self._configure(hook, body["config"])
            if isinstance(body.get("events"), list):
                hook.events = [str(e) for e in body["events"]]
            hook.events += [str(e) for e in body.get("add_events", []) if e not in hook.events]
            hook.events = [e for e in hook.events if e not in body.get("remove_events", [])]
            if "active" in body:
                hook.active = bool(body["active"])
            hook.updated_at = self.world.now()
        return Response.json(200, self.api.shapes.hook(hook))

    def delete(self, call: Call, owner: str, name: str, hook_id: str) -> Response:
        repo = self._repo(call, owner, name, DELETE)
        with self.world.lock:
            del self.world.hooks[self._hook(repo, hook_id).id]
        return Response(204)

    def ping(self, call: Call, owner: str, name: str, hook_id: str) -> Response:
        repo = self._repo(call, owner, name, READ)
        hook = self._hook(repo, hook_id)
        payload = self.api.events.ping(hook, repo, call.login or repo.owner)
        self.api.dispatcher.emit(repo, "ping", payload, only=hook)
        return Response(204)

    def _deliveries(self, hook: Hook) -> list[Delivery]:
        with self.world.lock:
            found = [d for d in self.world.deliveries if d.hook_id == hook.id]
        return sorted(found, key=lambda d: d.id, reverse=True)  # newest first

    def deliveries(self, call: Call, owner: str, name: str, hook_id: str) -> Response:
        """Cursor pagination, as this endpoint has it (not page numbers)."""
        repo = self._repo(call, owner, name, READ)
        hook = self._hook(repo, hook_id)
        per_page = number_arg(call.request.arg("per_page"), 30, 1, 100)
        cursor = call.request.arg("cursor")
        found = self._deliveries(hook)
        if cursor and cursor.isdigit():
            found = [d for d in found if d.id < int(cursor)]
        page, rest = found[:per_page], found[per_page:]
        headers = []
        if rest:
            query = urlencode({"per_page": per_page, "cursor": page[-1].id})
            url = f"{self.api.shapes.urls.api}/repos/{repo.full_name}/hooks/{hook.id}/deliveries"
            headers.append(("Link", f'<{url}?{query}>; rel="next"'))
        return Response.json(200, [self.api.shapes.delivery(d) for d in page], headers)

    def _delivery(self, hook: Hook, delivery_id: str) -> Delivery:
        for delivery in self._deliveries(hook):
            if str(delivery.id) == delivery_id:
                return delivery
        raise not_found()

    def delivery(
        self, call: Call, owner: str, name: str, hook_id: str, delivery_id: str
    ) -> Response:
        repo = self._repo(call, owner, name, READ)
        found = self._delivery(self._hook(repo, hook_id), delivery_id)
        return Response.json(200, self.api.shapes.delivery(found, full=True))

    def redeliver(
        self, call: Call, owner: str, name: str, hook_id: str, delivery_id: str
    ) -> Response:
        repo = self._repo(call, owner, name, WRITE)
        self.api.dispatcher.redeliver(self._delivery(self._hook(repo, hook_id), delivery_id))
        return Response.json(202, {})
