"""`deployctl status`: the daemon (the version really running), its database, nginx,
docker, systemd, disks, certificates, backups and the last self-update."""

from __future__ import annotations

from deployd.protocol.system import StatusResult, UpdateInfo

from .. import render
from ..session import JsonFlag, session


def status(json: JsonFlag = False) -> None:
    """Show the daemon, its database and what this host offers."""
    result: StatusResult = session(json).call("system.status")
    if json:
        render.emit_json(result)
        return
    db = result.database
    host = result.host
    database = (
        f"ok (PostgreSQL {db.server_version}, {db.migrations_applied} migrations"
        + (f", {db.migrations_pending} pending" if db.migrations_pending else "")
        + ")"
        if db.state == "ok"
        else f"UNREACHABLE: {db.detail}"
    )
    render.pairs(
        [
            (
                "deployd",
                f"{result.version} ({result.mode}), protocol {result.protocol}, pid {result.pid}",
            ),
            (
                "uptime",
                render.span(result.uptime_seconds) + f" (since {render.when(result.started_at)})",
            ),
            ("socket", result.socket),
            ("database", database),
            (
                "you",
                f"{result.identity.user} ({result.identity.role.value}, via {result.identity.via})",
            ),
            (
                "host",
                f"{host.hostname}: {host.os}, kernel {host.kernel}, {host.cpus} CPUs, "
                f"{render.size(host.memory_bytes)}",
            ),
            ("root", "yes" if host.root else "no (unprivileged)"),
            ("systemd", "yes" if host.systemd else "no (not PID 1)"),
            ("docker", "yes" if host.docker else f"no ({host.docker_detail})"),
            ("nginx", host.nginx or "not installed"),
            ("clients", result.connections),
            *(
                (
                    "disk",
                    f"{d.path}: {render.size(d.free_bytes)} free of {render.size(d.total_bytes)}"
                    + ("  LOW: logs and builds will fail" if d.low else ""),
                )
                for d in result.disks
            ),
            ("certificates", f"{result.certificates}"),
            *(
                (
                    "CERTIFICATE",
                    f"{c.domain} ({c.app}): renewal failed {c.failures}x, expires "
                    f"{render.when(c.not_after) if c.not_after else '?'}: {c.error}",
                )
                for c in result.certificate_problems
            ),
            *(
                ("BACKUP", f"{name}: no verified backup within twice its schedule's interval")
                for name in result.backups_overdue
            ),
            *(
                (("installed", ", ".join(result.installed_versions)),)
                if result.installed_versions
                else ()
            ),
            *((("last update", _update(result.update)),) if result.update else ()),
        ]
    )


def _update(update: UpdateInfo) -> str:
    what = f"{update.kind} {update.from_version} → {update.to_version}"
    when = render.when(update.finished_at or update.started_at)
    if update.step == "done":
        return f"{what}: done {when}"
    if update.step in ("rolled_back", "failed"):
        return f"{what}: {update.step.replace('_', ' ').upper()} {when}: {update.reason}"
    return f"{what}: under way ({update.step}) since {render.when(update.started_at)}"
