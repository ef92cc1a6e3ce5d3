"""Self-update as the daemon carries it out: find the version, install it beside the running
one, make a verified dump of deployd's database, apply its migrations if old code can live
with them, move `current`, and hand over to the finisher (upgrade/finish.py), which
restarts the service and puts the old version back if the new one is not healthy in time.

Apps never notice: nginx keeps running, and apps outlive the daemon (KillMode=process for
the process runtime, units of their own for systemd, containers for docker); the daemon
that starts adopts them as after any restart. One update at a time; the record on disk
says how the last one went, and the daemon that runs next publishes its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from deployd import __version__
from deployd.domain.text import last_line
from deployd.domain.upgrades import (
    MigrationKind,
    OnStart,
    UpdateKind,
    UpdateRecord,
    UpdateRefused,
    UpdateStep,
    choose,
    migration_kind,
    on_start,
    parse_version,
)
from deployd.postgres.server import pg_variables, snapshot_of
from deployd.postgres.tools import ToolFailed, Tools
from deployd.protocol.events import EventType
from deployd.store import migrate
from deployd.upgrade import record as records
from deployd.upgrade import sources, venvs
from deployd.upgrade.layout import Installation

from . import databases
from .platform import Platform

log = logging.getLogger(__name__)
KEPT_DUMPS = 3
KEPT_LINES = 5000
KEPT_VERSIONS = 3
"""Installed versions kept besides the running one (the ones to go back to)."""
WATCH_SECONDS = 2.0
FAILURES = (
    UpdateRefused,
    sources.SourceError,
    venvs.InstallFailed,
    ToolFailed,
    migrate.MigrationError,
    psycopg.Error,
    OSError,
    subprocess.SubprocessError,
)


@dataclass(frozen=True, slots=True)
class Progress:
    step: UpdateStep
    message: str


class SelfUpdater:
    def __init__(self, platform: Platform) -> None:
        settings = platform.settings
        self.platform = platform
        self.installation = Installation(settings.install_dir)
        self.record_file = platform.paths.data_dir / "update.json"
        self._task: asyncio.Task[None] | None = None
        self._said: list[Progress] = []
        self._listeners: set[asyncio.Queue[Progress | None]] = set()
        self._starting = asyncio.Lock()

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def last(self) -> UpdateRecord | None:
        return records.read(self.record_file)

    def running(self) -> str:
        """The version installed by install.sh that runs now; UpdateRefused otherwise."""
        running = self.installation.running()
        if running is None:
            raise UpdateRefused(
                f"this deployd runs from {os.path.realpath(sys.prefix)}, not from an "
                f"installation made by install.sh ({self.installation.versions}/<version>): "
                "update it the way it was installed"
            )
        if not Path("/run/systemd/system").is_dir() or shutil.which("systemd-run") is None:
            raise UpdateRefused(
                "self-update restarts deployd through systemd, which is not running"
            )
        return running

    async def offered(self) -> dict[str, sources.Offer]:
        try:
            return await asyncio.to_thread(sources.offered, self.platform.settings.update_source)
        except sources.SourceError as exc:
            raise UpdateRefused(self.redacted(str(exc))) from None

    def redacted(self, text: str) -> str:
        return sources.without_secrets(self.platform.settings.update_source, text)

    def previous(self, running: str) -> str:
        """What `--rollback` returns to: the version the last update came from, else the
        newest installed one older than the running one."""
        last = self.last()
        installed = self.installation.installed()
        if last is not None and last.to_version == running and last.from_version in installed:
            return last.from_version
        older = sorted(
            (v for v in installed if parse_version(v) < parse_version(running)), key=parse_version
        )
        if not older:
            raise UpdateRefused(f"no version older than {running} is installed to go back to")
        return older[-1]

    async def begin(self, kind: UpdateKind, wanted: str | None, actor: str) -> UpdateRecord:
        """Check what can be checked at once (so the caller hears a refusal as an error),
        then carry the update out in the background: the caller may leave."""
        async with self._starting:  # two admins at once: one update
            return await self._begin(kind, wanted, actor)

    async def _begin(self, kind: UpdateKind, wanted: str | None, actor: str) -> UpdateRecord:
        if self.busy:
            raise UpdateRefused("an update is already under way")
        running = self.running()
        last = await asyncio.to_thread(self.last)
        if last is not None and not last.step.finished:
            raise UpdateRefused(f"the last update ({last.step.value}) is not finished yet")
        if last is not None and not last.published:  # its outcome is said before it goes
            await self._publish(last)
        offer: sources.Offer | None = None
        if kind is UpdateKind.UPDATE:
            offered = await self.offered()
            target = choose(running, list(offered), wanted)
            offer = offered[target]
        else:
            target = self.previous(running)
        now = datetime.now(UTC)
        update = UpdateRecord(
            id=now.strftime("%Y%m%dT%H%M%S"),
            kind=kind,
            from_version=running,
            to_version=target,
            step=UpdateStep.INSTALLING if offer else UpdateStep.SWITCHING,
            started_at=now,
        )
        await asyncio.to_thread(records.write, self.record_file, update)
        await self.platform.bus.publish(
            EventType.DEPLOYD_UPDATE_STARTED,
            f"{kind.value} of deployd from {running} to {target} started",
            actor=actor,
            data={"from": running, "to": target, "kind": kind.value},
        )
        self._said = []
        self._task = asyncio.create_task(self._carry_out(update, offer, actor))
        return update

    async def follow(self) -> AsyncIterator[Progress]:
        """What the update under way said so far, then what it says, until it hands over."""
        queue: asyncio.Queue[Progress | None] = asyncio.Queue()
        for said in self._said:
            queue.put_nowait(said)
        if not self.busy:
            queue.put_nowait(None)
        self._listeners.add(queue)
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            self._listeners.discard(queue)

    def _say(self, step: UpdateStep, message: str) -> None:
        said = Progress(step, self.redacted(message))
        if len(self._said) < KEPT_LINES:  # for a watcher that comes later
            self._said.append(said)
        for queue in self._listeners:
            queue.put_nowait(said)

    async def _carry_out(
        self, update: UpdateRecord, offer: sources.Offer | None, actor: str
    ) -> None:
        try:
            if offer is not None:
                update = await self._install(update, offer)
                pending = await self._pending_migrations(update)
                update = await self._back_up(update)
                update = await self._migrate(update, pending)
            await self._switch(update)
        except FAILURES as exc:
            await self._failed(update, str(exc) or type(exc).__name__, actor)
        finally:
            for queue in self._listeners:
                queue.put_nowait(None)

    async def _moved(self, update: UpdateRecord, step: UpdateStep, message: str) -> UpdateRecord:
        update = update.moved(step, datetime.now(UTC))
        await asyncio.to_thread(records.write, self.record_file, update)
        self._say(step, message)
        return update

    async def _install(self, update: UpdateRecord, offer: sources.Offer) -> UpdateRecord:
        target = self.installation.venv(update.to_version)
        self._say(UpdateStep.INSTALLING, f"installing deployd {update.to_version} into {target}")
        loop = asyncio.get_running_loop()

        def say(line: str) -> None:
            loop.call_soon_threadsafe(self._say, UpdateStep.INSTALLING, line)

        await asyncio.to_thread(venvs.make, target, offer, say)
        installed = await asyncio.to_thread(venvs.version_of, target)
        if installed != update.to_version:
            raise UpdateRefused(
                f"{offer.tag or offer.url} installed deployd {installed or '(unknown)'}, "
                f"not {update.to_version}"
            )
        return update

    async def _back_up(self, update: UpdateRecord) -> UpdateRecord:
        update = await self._moved(update, UpdateStep.BACKING_UP, "backing up deployd's database")
        conninfo = self.platform.settings.database_url
        if not conninfo:
            raise UpdateRefused("deployd's database is not configured (DEPLOYD_DATABASE_URL)")
        directory = self.platform.paths.backups_dir / "deployd"
        await asyncio.to_thread(databases.make_private_dir, directory)
        final = directory / f"{update.id}.dump"
        partial = directory / f".{update.id}.partial"
        tools = Tools(
            bindir=self.platform.db_tools.bindir,
            account=None,  # deployd's own database, with deployd's own credentials
            admin_env=lambda: pg_variables(conninfo),
        )
        dbname = str(conninfo_to_dict(conninfo).get("dbname") or "deployd")
        try:
            async with (
                await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn,
                snapshot_of(conn) as snapshot,
            ):
                written = await asyncio.to_thread(
                    databases.dump_to, tools, dbname, snapshot.id, partial
                )
            found = await asyncio.to_thread(tools.count_table_data, partial)
            if written.size_bytes == 0 or found != len(snapshot.tables):
                raise ToolFailed(
                    f"the dump holds the rows of {found} tables, the database has "
                    f"{len(snapshot.tables)}"
                )
            await asyncio.to_thread(os.replace, partial, final)
        finally:
            await asyncio.to_thread(partial.unlink, missing_ok=True)
        await asyncio.to_thread(_prune_dumps, directory)
        update = replace(update, backup=str(final))
        message = f"verified dump of deployd's database: {final} ({written.size_bytes} bytes)"
        self._say(UpdateStep.BACKING_UP, message)
        return await self._moved(update, UpdateStep.MIGRATING, "migrating")

    async def _pending_migrations(self, update: UpdateRecord) -> list[migrate.Migration]:
        """The new version's migrations this database lacks; UpdateRefused if any is one
        the running version could not work with (checked before anything changes)."""
        venv = self.installation.venv(update.to_version)
        known = await asyncio.to_thread(
            migrate.load, await asyncio.to_thread(venvs.migrations_of, venv)
        )
        async with self.platform.pool.connection() as conn:
            state = await migrate.state(conn, known)
        pending = [m for m in known if m.name in state.pending]
        for migration in pending:
            kind, reasons = migration_kind(migration.sql)
            if kind is MigrationKind.CONTRACT:
                raise UpdateRefused(
                    f"deployd {update.to_version} brings {migration.name}, which "
                    f"{' and '.join(reasons)}: the running version could not work with it, "
                    "so it cannot be applied by a self-update. Upgrade with install.sh "
                    "from that version instead (README: Updating deployd)"
                )
        return pending

    async def _migrate(
        self, update: UpdateRecord, pending: list[migrate.Migration]
    ) -> UpdateRecord:
        venv = self.installation.venv(update.to_version)
        if pending:
            names = ", ".join(m.name for m in pending)
            self._say(UpdateStep.MIGRATING, f"applying {names} (expand only)")
            await asyncio.to_thread(_run_migrate, venv)
        else:
            self._say(UpdateStep.MIGRATING, "no migrations to apply")
        return update

    async def _switch(self, update: UpdateRecord) -> None:
        update = await self._moved(
            update,
            UpdateStep.SWITCHING,
            f"switching to deployd {update.to_version} and restarting the daemon; it has "
            f"{self.platform.settings.update_check_timeout:.0f} s to answer, or "
            f"{update.from_version} comes back",
        )
        await asyncio.to_thread(self.installation.switch, update.to_version)
        try:
            await asyncio.to_thread(self._start_finisher, update)
        except FAILURES:
            await asyncio.to_thread(self.installation.switch, update.from_version)
            raise

    def _start_finisher(self, update: UpdateRecord) -> None:
        """From the version that runs now (known to work), in a unit of its own: it is not
        in the service's cgroup, so restarting the service cannot stop it."""
        here = self.installation.venv(update.from_version)
        done = subprocess.run(
            [
                "systemd-run",
                f"--unit=deployd-update-{update.id}",
                "--collect",
                "--quiet",
                str(here / "bin" / "deployd"),
                "update-finish",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise UpdateRefused(f"could not start the finisher: {last_line(done.stderr)}")

    async def _failed(self, update: UpdateRecord, reason: str, actor: str) -> None:
        reason = self.redacted(reason)
        update = replace(update.moved(UpdateStep.FAILED, datetime.now(UTC), reason), published=True)
        await asyncio.to_thread(records.write, self.record_file, update)
        if update.kind is UpdateKind.UPDATE:  # a rollback's target was there before it
            await asyncio.to_thread(self._forget_version, update.to_version)
        self._say(
            UpdateStep.FAILED, f"update failed, deployd {update.from_version} runs on: {reason}"
        )
        await self.platform.bus.publish(
            EventType.DEPLOYD_UPDATE_FAILED,
            f"{update.kind.value} of deployd to {update.to_version} failed: {reason}",
            actor=actor,
            data={"from": update.from_version, "to": update.to_version, "reason": reason},
        )

    def _forget_version(self, version: str) -> None:
        """An install that did not go live is removed (never the running or current one)."""
        with contextlib.suppress(ValueError):
            self.installation.remove(version)

    # -- the daemon that runs next --------------------------------------------------------

    async def watch(self) -> None:
        """Publish how the last update went, once: at start, and while the finisher is still
        checking this daemon."""
        try:
            await self._watch()
        except FAILURES as exc:  # the next start tries again
            log.warning("could not publish the last update's outcome: %s", exc)

    async def _watch(self) -> None:
        while True:
            update = await asyncio.to_thread(self.last)
            action = on_start(update, __version__, self.busy)
            if update is None:
                return
            if action is OnStart.INTERRUPTED:
                reason = f"deployd stopped while the update was {update.step.value}"
                await self._failed(update, reason, "deployd")
                return
            if action is OnStart.PUBLISH:
                await self._publish(update)
                return
            if update.step is not UpdateStep.SWITCHING:
                return
            if await asyncio.to_thread(self._finisher_gone):
                await self._settle_without_finisher(update)
                continue
            await asyncio.sleep(WATCH_SECONDS)

    def _finisher_gone(self) -> bool:
        """The record was last written at the switch; the finisher restarts and checks at
        most twice (there and back)."""
        limit = 4 * self.platform.settings.update_check_timeout + 300
        try:
            switched = self.record_file.stat().st_mtime
        except FileNotFoundError:
            return False
        return time.time() - switched > limit

    async def _settle_without_finisher(self, update: UpdateRecord) -> None:
        """The finisher never said (the host restarted under it): what runs is the outcome."""
        now = datetime.now(UTC)
        if __version__ == update.to_version:
            update = update.moved(UpdateStep.DONE, now)
        else:
            reason = f"the check of deployd {update.to_version} never finished"
            update = update.moved(UpdateStep.ROLLED_BACK, now, reason)
        await asyncio.to_thread(records.write, self.record_file, update)

    async def _publish(self, update: UpdateRecord) -> None:
        if update.step is UpdateStep.DONE:
            kind = EventType.DEPLOYD_UPDATED
            message = f"deployd {update.to_version} runs (was {update.from_version})"
        elif update.step is UpdateStep.ROLLED_BACK:
            kind = EventType.DEPLOYD_UPDATE_ROLLED_BACK
            message = f"deployd {update.to_version} was not healthy: {update.reason}"
        else:
            kind = EventType.DEPLOYD_UPDATE_FAILED
            message = f"update of deployd to {update.to_version} failed: {update.reason}"
        await self.platform.bus.publish(
            kind,
            message,
            actor="deployd",
            data={"from": update.from_version, "to": update.to_version, "reason": update.reason},
        )
        await asyncio.to_thread(records.write, self.record_file, replace(update, published=True))
        if update.step is UpdateStep.DONE:
            await asyncio.to_thread(self._prune_versions)
        elif update.step is UpdateStep.ROLLED_BACK and update.kind is UpdateKind.UPDATE:
            await asyncio.to_thread(self._forget_version, update.to_version)

    def _prune_versions(self) -> None:
        keep = {self.installation.running(), self.installation.current_version()}
        older = sorted(
            (v for v in self.installation.installed() if v not in keep), key=parse_version
        )
        for version in older[:-KEPT_VERSIONS] if len(older) > KEPT_VERSIONS else []:
            self._forget_version(version)


def _prune_dumps(directory: Path) -> None:
    dumps = sorted(directory.glob("*.dump"))
    for old in dumps[:-KEPT_DUMPS]:
        old.unlink(missing_ok=True)


def _run_migrate(venv: Path) -> None:
    """The new version applies its own migrations (its runner, its files)."""
    done = subprocess.run(
        [str(venv / "bin" / "deployd"), "migrate"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd="/",
    )
    if done.returncode != 0:
        said = last_line(done.stderr or done.stdout)
        raise migrate.MigrationError(f"deployd migrate failed: {said}")
