"""The method table's other half: each RPC method is one call into a service.

Handlers take the caller and the validated params model. Stream handlers return the
first result and an async iterator of notifications.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from deployd.protocol.methods import METHODS
from deployd.protocol.users import AuthenticateResult
from deployd.services import (
    apps,
    audit,
    databases,
    deploys,
    domains,
    env,
    events,
    github,
    logs,
    metrics,
    processes,
    snapshot,
    stats,
    system,
    updates,
    users,
)
from deployd.services.core import Caller, Core

Handler = Callable[[Core, Caller, Any], Awaitable[BaseModel]]
StreamHandler = Callable[[Core, Caller, Any], Awaitable[tuple[BaseModel, AsyncIterator[BaseModel]]]]


async def _authenticate(core: Core, caller: Caller, params: Any) -> BaseModel:
    caller.identity = await users.authenticate(core, caller, params.token)
    return AuthenticateResult(identity=caller.identity)


HANDLERS: dict[str, Handler] = {
    "system.hello": system.hello,
    "system.status": lambda core, caller, _: system.status(core, caller),
    "system.snapshot": lambda core, caller, _: snapshot.take(core, caller),
    "github.status": lambda core, caller, _: github.account(core, caller),
    "github.repos": github.repos,
    "github.branches": github.branches,
    "github.connect": github.connect,
    "github.show": github.show,
    "github.deliveries": github.deliveries,
    "github.redeliver": github.redeliver,
    "github.disconnect": github.disconnect,
    "github.receive": github.receive,
    "auth.login": users.login,
    "auth.authenticate": _authenticate,
    "users.list": lambda core, caller, _: users.list_users(core, caller),
    "users.add": users.add,
    "users.passwd": users.passwd,
    "users.remove": users.remove,
    "tokens.create": users.create_token,
    "tokens.list": users.list_tokens,
    "tokens.revoke": users.revoke_token,
    "audit.list": audit.list_entries,
    "audit.verify": lambda core, caller, _: audit.verify(core, caller),
    "events.list": events.list_events,
    "apps.list": lambda core, caller, _: apps.list_apps(core, caller),
    "apps.show": apps.show,
    "apps.create": apps.create,
    "apps.set": apps.set_runtime,
    "apps.delete": apps.delete,
    "deploys.start": deploys.start,
    "deploys.rollback": deploys.rollback,
    "deploys.show": deploys.show,
    "releases.list": deploys.releases,
    "apps.ps": processes.ps,
    "apps.scale": processes.scale,
    "apps.restart": processes.restart,
    "apps.stop": processes.stop,
    "apps.start": processes.start,
    "logs.read": logs.read,
    "env.list": env.list_env,
    "env.reveal": env.reveal,
    "env.set": env.set_env,
    "env.history": env.history,
    "env.compare": env.compare,
    "domains.list": domains.list_domains,
    "domains.attach": domains.attach,
    "domains.verify": domains.verify,
    "domains.detach": domains.detach,
    "databases.list": lambda core, caller, _: databases.list_databases(core, caller),
    "databases.show": databases.show,
    "databases.reveal": databases.reveal,
    "databases.create": databases.create,
    "databases.link": databases.link,
    "databases.unlink": databases.unlink,
    "databases.drop": databases.drop,
    "databases.backup": databases.backup,
    "databases.backups": databases.backups,
    "databases.schedule": databases.schedule,
    "databases.restore": databases.restore,
    "storage.show": lambda core, caller, _: databases.remote_show(core, caller),
    "storage.set": databases.remote_set,
    "databases.migrate": databases.migrate,
    "stats.show": stats.show,
    "system.top": lambda core, caller, _: metrics.top(core, caller),
    "system.disk": lambda core, caller, _: metrics.disk(core, caller),
    "update.check": lambda core, caller, _: updates.check(core, caller),
}

STREAM_HANDLERS: dict[str, StreamHandler] = {
    "events.subscribe": events.subscribe,
    "deploys.watch": deploys.watch,
    "logs.follow": logs.follow,
    "apps.run": processes.run,
    "databases.psql": databases.psql,
    "stats.follow": stats.follow,
    "update.start": updates.start,
    "github.login": github.login,
}

_missing = set(METHODS) - set(HANDLERS) - set(STREAM_HANDLERS)
assert not _missing, f"methods without a handler: {sorted(_missing)}"
