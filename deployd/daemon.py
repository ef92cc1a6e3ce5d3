"""The daemon's lifecycle: startup → serve until a signal → shutdown.

Startup takes the instance lock first (so two daemons never share a root), starts the
private PostgreSQL in dev mode, migrates, makes sure the built-in admin exists, then binds
the socket. Signal handlers only set a flag; a second Ctrl-C exits at once.
"""

from __future__ import annotations

import asyncio
import grp
import logging
import os
import secrets
import shutil
import signal
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Literal

import psycopg
import psycopg_pool
from psycopg.conninfo import conninfo_to_dict

from deployd import __version__
from deployd.config import Settings, resource_dir
from deployd.domain.accounts import prefix_for
from deployd.domain.ports import ephemeral_overlap
from deployd.engine import appconfig, auditing, keys, maintenance, restore, sites
from deployd.engine.accounts import AppAccounts
from deployd.engine.events import EventBus
from deployd.engine.jobs import JobRunner
from deployd.engine.masks import MaskingFormatter, Masks
from deployd.engine.platform import Platform, Pool
from deployd.engine.selfupdate import SelfUpdater
from deployd.lifecycle import InstanceLock, Notifier, feed_watchdog
from deployd.monitor.backups import BackupScheduler
from deployd.monitor.certificates import Renewer
from deployd.monitor.github import GithubWorker
from deployd.monitor.metrics import MetricsSampler
from deployd.monitor.reconciler import Reconciler
from deployd.monitor.supervisor import Supervisor
from deployd.monitor.traffic import TrafficIngester
from deployd.postgres.server import Address, AppsServer, ServerUnavailable
from deployd.postgres.tools import Tools
from deployd.protocol import sockets
from deployd.protocol.apps import AppsCreateParams, DeploysStartParams, DeploysWatchParams
from deployd.protocol.common import Identity, Role
from deployd.protocol.errors import RpcError
from deployd.protocol.events import EventType
from deployd.proxy.acme import Certbot
from deployd.proxy.nginx import Nginx, ProxyError
from deployd.rpc.server import RpcServer
from deployd.runtime import appmount
from deployd.runtime.docker import DockerRuntime, default_bridge, instance_prefix
from deployd.runtime.process import ProcessRuntime
from deployd.runtime.systemd import SystemdRuntime
from deployd.services import apps, deploys, users
from deployd.services.core import Caller, Core
from deployd.store import migrate
from deployd.store.cluster import Bridge, PrivateCluster, find_pg_bindir
from deployd.store.db import make_pool
from deployd.unix.accounts import Account, myself
from deployd.upgrade.layout import Installation
from deployd.vault.audit_seal import AuditSeal, AuditSealError
from deployd.vault.keyring import KeyRing, VaultKeyError

log = logging.getLogger("deployd")
EXAMPLE_APP = "hello"


def reach_hint(socket: Path, environ: Mapping[str, str], cwd: Path, prefix: str) -> str:
    """A `status` command that works typed where deployd was started: `uv run deployctl`
    under `uv run`, `deployctl` when ours is on the PATH, else its full path; `--socket`
    only where deployctl would not find this socket by itself."""
    ours = Path(prefix) / "bin" / "deployctl"
    if environ.get("UV"):
        program = "uv run deployctl"
    elif shutil.which("deployctl", path=environ.get("PATH")) == str(ours):
        program = "deployctl"
    else:
        program = str(ours)
    if sockets.default_socket(environ, cwd).resolve() == socket.resolve():
        return f"{program} status"
    return f"{program} --socket {socket} status"


class StartupError(RuntimeError):
    pass


def apps_address(conninfo: str, configured: str | None) -> Address:
    """Where apps reach the apps' server: as configured, else the admin conninfo's TCP
    host and port (a Unix socket directory is no address for an app: loopback then)."""
    if configured:
        named, _, number = configured.rpartition(":")
        return Address(named.strip("[]"), int(number))
    parts = conninfo_to_dict(conninfo)
    host = str(parts.get("host") or "127.0.0.1")
    port = int(str(parts.get("port") or 5432))
    return Address("127.0.0.1" if host.startswith("/") else host, port)


def database_conninfo(settings: Settings, cluster: PrivateCluster | None) -> str:
    if settings.database_url:
        return settings.database_url
    if cluster is not None:
        return cluster.conninfo()
    raise StartupError(
        "no database configured: set DEPLOYD_DATABASE_URL (or try `deployd dev`, which "
        "runs a private PostgreSQL)"
    )


class Daemon:
    def __init__(
        self,
        settings: Settings,
        mode: Literal["dev", "serve"],
        announce: Callable[[str], None] = print,
        example: bool = False,
    ) -> None:
        self.settings = settings
        self.mode = mode
        self.paths = settings.paths
        self.announce = announce
        self.example = example
        self.lock = InstanceLock(self.paths.lock_file)
        self.notifier = Notifier.claim()
        self.cluster: PrivateCluster | None = None
        if mode == "dev" and not settings.database_url:
            self.cluster = PrivateCluster(self.paths.pg_dir, run_as=settings.pg_user)
        self.apps_cluster: PrivateCluster | None = None
        if mode == "dev" and not settings.apps_database_url:
            self.apps_cluster = PrivateCluster(
                self.paths.apps_pg_dir, run_as=settings.pg_user, on_loopback=True
            )
        self._stop = asyncio.Event()
        self._example_report: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        self._supervisor: Supervisor | None = None
        self._interrupts = 0
        self.listening = False
        """It got as far as serving; before that, a failed first start has nothing to keep."""

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.paths.create()
        self._check_isolation()
        self.lock.acquire()
        try:
            await self._serve()
        finally:
            self.lock.release()

    async def _serve(self) -> None:
        if self.cluster is not None:
            created = await asyncio.to_thread(self.cluster.init)
            if created:
                self.announce(f"initialised a private PostgreSQL cluster in {self.cluster.data}")
            await asyncio.to_thread(self.cluster.start)
            await asyncio.to_thread(self.cluster.ensure_database)
        if self.apps_cluster is not None and self.apps_cluster.initialised:
            await self._start_apps_cluster(self.apps_cluster)  # apps reach it as they start
        try:
            await self._with_database(database_conninfo(self.settings, self.cluster))
        finally:
            if self.apps_cluster is not None:
                await asyncio.to_thread(self.apps_cluster.stop)
            if self.cluster is not None:
                await asyncio.to_thread(self.cluster.stop)

    async def _with_database(self, conninfo: str) -> None:
        pool = make_pool(conninfo, max_size=self.settings.db_pool_size)
        try:
            await pool.open(wait=True, timeout=15)
        except psycopg_pool.PoolTimeout:
            raise StartupError(
                "cannot connect to the database (check DEPLOYD_DATABASE_URL)"
            ) from None
        try:
            migrations_dir = resource_dir("migrations")
            async with pool.connection() as conn:
                applied = await migrate.migrate(conn, migrations_dir)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            keyring = KeyRing(self.settings.key_file)
            seal = AuditSeal(self.settings.audit_key_file, self.settings.audit_anchor_file)
            try:
                async with pool.connection() as conn:
                    if await keys.open_vault(conn, keyring):
                        self.announce(f"created the vault key {keyring.path} (back it up)")
                    if await auditing.open_log(conn, seal):
                        self.announce(f"created the audit key {seal.key_file} (back it up)")
            except (VaultKeyError, AuditSealError) as exc:
                raise StartupError(str(exc)) from None
            masks = Masks()
            _mask_own_logs(masks)
            bus = EventBus(pool, masks)
            platform = self._platform(pool, bus, keyring, masks)
            await appconfig.refresh_masks(platform)
            core = Core(
                settings=self.settings,
                pool=pool,
                bus=bus,
                mode=self.mode,
                started_at=datetime.now(UTC),
                migrations=migrate.load(migrations_dir),
                platform=platform,
                jobs=JobRunner(platform),
                audit_seal=seal,
                updater=SelfUpdater(platform),
            )
            password = await users.ensure_bootstrap_admin(core, with_password=self.mode == "dev")
            self.example = self.example and password is not None  # first start only
            if password:
                self.announce(
                    f"created user {self.settings.bootstrap_admin!r} with password {password} "
                    "(shown once; change it with `deployctl users passwd`)"
                )
            await self._listen(core)
        finally:
            await pool.close()

    def _platform(self, pool: Pool, bus: EventBus, keyring: KeyRing, masks: Masks) -> Platform:
        settings, paths = self.settings, self.paths
        accounts = AppAccounts(paths, prefix_for(str(settings.root) if settings.root else None))
        private = paths.rerooted  # dev and tests: a private nginx inside the root
        http_port = settings.http_port or (8080 if private else 80)
        nginx_account = accounts.nginx()
        nginx_user = None
        if nginx_account is not None:
            nginx_user = f"{nginx_account.name} {grp.getgrgid(nginx_account.gid).gr_name}"
        https_port = settings.https_port or (8443 if private else 443)
        nginx = Nginx(
            templates=resource_dir("templates"),
            sites_dir=paths.nginx_dir / "sites" if private else settings.nginx_sites_dir,
            switch_dir=paths.run_dir / "switch",
            listen=f"127.0.0.1:{http_port}" if private else str(http_port),
            http_port=http_port,
            https_listen=f"127.0.0.1:{https_port}" if private else str(https_port),
            https_port=https_port,
            webroot=paths.acme_dir / "webroot",
            certs_dir=paths.certs_dir,
            access_logs=paths.access_logs_dir,
            check_token=secrets.token_urlsafe(16),
            prefix=paths.nginx_dir if private else None,
            user=nginx_user,
        )
        certbot = Certbot(
            binary=settings.certbot,
            directory=settings.acme_directory,
            email=settings.acme_email,
            ca_bundle=settings.acme_ca_bundle,
            acme_dir=paths.acme_dir,
            logs_dir=paths.log_dir / "acme",
            webroot=paths.acme_dir / "webroot",
            certs_dir=paths.certs_dir,
            reader_gid=_nginx_worker_gid(private, nginx_account),
        )
        launchers = ProcessRuntime()
        docker = DockerRuntime(
            launchers,
            prefix=instance_prefix(settings.root),
            base_url=settings.docker_host,
        )
        systemd = SystemdRuntime(
            launchers,
            templates=resource_dir("templates"),
            unit_dir=settings.systemd_unit_dir,
            python=str(Installation(settings.install_dir).stable_python()),
        )
        unmounted = appmount.prepare_host()
        if unmounted is not None:
            log.warning("releases run where they are built, not at /app: %s", unmounted)
        databases = self._apps_server()
        return Platform(
            settings=settings,
            paths=paths,
            databases=databases,
            db_tools=Tools(
                bindir=find_pg_bindir(),
                account=(settings.db_tools_user or settings.pg_user) if os.geteuid() == 0 else None,
                admin_env=databases.admin_parts,
            ),
            pool=pool,
            bus=bus,
            nginx=nginx,
            certbot=certbot,
            runtime=launchers,
            runtimes={"process": launchers, "docker": docker, "systemd": systemd},
            docker=docker,
            systemd=systemd,
            # dev and tests (re-rooted) never write units into the host's systemd
            systemd_host=Path("/run/systemd/system").is_dir() and not paths.rerooted,
            app_mount=unmounted is None,
            accounts=accounts,
            vault=keyring,
            masks=masks,
        )

    def _apps_server(self) -> AppsServer:
        """The apps' databases: the server DEPLOYD_APPS_DATABASE_URL names, or in dev a
        cluster of its own, made by the first `db` command that needs it."""
        settings, cluster = self.settings, self.apps_cluster
        limit = settings.db_connection_limit
        if settings.apps_database_url:
            conninfo = settings.apps_database_url
            return AppsServer(
                lambda: conninfo,
                lambda: apps_address(conninfo, settings.apps_database_address),
                connection_limit=limit,
            )
        if cluster is None:

            async def unconfigured() -> None:
                raise ServerUnavailable(
                    "no PostgreSQL for apps' databases is configured: set "
                    "DEPLOYD_APPS_DATABASE_URL to an admin conninfo of one"
                )

            return AppsServer(lambda: "", lambda: Address("127.0.0.1", 0), prepare=unconfigured)

        async def made_and_started() -> None:
            if await asyncio.to_thread(cluster.init):
                self.announce(f"initialised the apps' PostgreSQL cluster in {cluster.data}")
            await self._start_apps_cluster(cluster)

        return AppsServer(
            lambda: cluster.conninfo("postgres"),
            lambda: Address("127.0.0.1", cluster.port),
            prepare=made_and_started,
            connection_limit=limit,
        )

    async def _start_apps_cluster(self, cluster: PrivateCluster) -> None:
        """Start the apps' dev cluster on loopback and, when the Docker Engine is there, on
        its bridge's gateway: containers on the bridge reach their databases there."""
        found = await asyncio.to_thread(default_bridge, self.settings.docker_host)
        bridges = []
        if found is not None:
            try:
                bridges.append(Bridge(IPv4Address(found[0]), IPv4Network(found[1])))
            except ValueError:
                log.warning("the Docker bridge's address %r is not one PostgreSQL can use", found)
        await asyncio.to_thread(cluster.start, bridges)

    def _check_isolation(self) -> None:
        """As root, every app runs as its own account, which must reach its directory; as
        anyone else, apps run as the daemon's user and are not isolated: say so."""
        if os.geteuid() != 0:
            log.warning(
                "running as %s, not root: every app builds and runs as %s, so apps are not "
                "isolated from each other (run deployd as root for an account per app)",
                myself().name,
                myself().name,
            )
            return
        blocked = self.paths.unreachable_ancestor()
        if blocked is not None:
            raise StartupError(
                f"{blocked} cannot be crossed by other accounts (mode "
                f"{blocked.stat().st_mode & 0o777:o}), so the apps' own accounts could not "
                f"reach their files in {self.paths.data_dir}: use a --root outside it "
                "(e.g. under /srv or /var/lib), or `chmod o+x` it"
            )

    def _check_port_range(self, platform: Platform) -> None:
        try:
            low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        except (OSError, ValueError):
            return
        overlap = ephemeral_overlap(platform.ports, range(int(low), int(high) + 1))
        if overlap is not None:
            log.warning(
                "DEPLOYD_PORT_RANGE overlaps the kernel's ephemeral ports (%s-%s): a slot may "
                "find its port taken by an outgoing connection; pick a range below %s",
                low,
                high,
                low,
            )

    async def _start_apps(self, core: Core) -> None:
        platform = core.platform
        self._check_port_range(platform)
        await asyncio.to_thread(platform.certbot.prepare)
        if platform.nginx.prefix is not None:
            try:
                await asyncio.to_thread(platform.nginx.start)
            except ProxyError as exc:
                log.warning("the private nginx is not running: %s", exc)
        try:
            await sites.apply_baseline(platform)
        except ProxyError as exc:
            log.error("nginx refused deployd's baseline configuration: %s", exc)
        reconciler = Reconciler(platform, core.jobs.owned)
        await reconciler.recover_jobs()
        await reconciler.pass_once()
        await restore.revive_live_slots(platform)
        supervisor = Supervisor(platform)
        backups = BackupScheduler(platform)
        await backups.recover()  # before any call can start a backup
        self._background = [
            asyncio.create_task(maintenance.run(platform), name="maintenance"),
            asyncio.create_task(supervisor.run(), name="supervisor"),
            asyncio.create_task(reconciler.run(), name="reconciler"),
            asyncio.create_task(Renewer(platform).run(), name="certificates"),
            asyncio.create_task(backups.run(), name="backups"),
            asyncio.create_task(TrafficIngester(platform).run(), name="traffic"),
            asyncio.create_task(MetricsSampler(platform).run(), name="metrics"),
            asyncio.create_task(GithubWorker(platform).run(), name="github"),
        ]
        self._supervisor = supervisor
        core.jobs.start()

    async def _stop_apps(self, core: Core) -> None:
        for task in self._background:
            task.cancel()
        if self._supervisor is not None:
            await self._supervisor.stop()
        await core.jobs.stop()
        if self.mode == "dev":  # dev tears everything down; production apps outlive us
            await restore.stop_all(core.platform)
            core.platform.nginx.stop()

    async def _listen(self, core: Core) -> None:
        self.listening = True
        await self._start_apps(core)
        server = RpcServer(core, self.paths.socket)
        await server.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._on_signal, True)
        loop.add_signal_handler(signal.SIGTERM, self._on_signal, False)
        await core.bus.publish(
            EventType.DAEMON_STARTED,
            f"deployd {__version__} started ({self.mode})",
            actor="deployd",
            data={"pid": os.getpid(), "version": __version__},
        )
        self.notifier.notify("READY=1")
        self._background.append(asyncio.create_task(core.updater.watch(), name="self-update"))
        interval = self.notifier.watchdog_interval
        if interval is not None:
            self._background.append(
                asyncio.create_task(feed_watchdog(self.notifier, interval), name="watchdog")
            )
        self.announce(
            f"deployd {__version__} ({self.mode}) listening on {self.paths.socket}\n"
            f"  try: {reach_hint(self.paths.socket, os.environ, Path.cwd(), sys.prefix)}"
        )
        if self.example:
            await self._deploy_example(core)
        await self._stop.wait()
        self.notifier.notify("STOPPING=1")
        log.info("shutting down")
        try:
            await core.bus.publish(
                EventType.DAEMON_STOPPING, "deployd is shutting down", actor="deployd"
            )
        except (psycopg.Error, psycopg_pool.PoolTimeout):
            log.warning("could not record the shutdown event")
        await server.close()
        await self._stop_apps(core)

    async def _deploy_example(self, core: Core) -> None:
        """First `deployd dev` on a new root: deploy the bundled example app."""
        caller = Caller(
            identity=Identity(user=self.settings.bootstrap_admin, role=Role.ADMIN, via="daemon"),
            peer_uid=os.getuid(),
        )
        if (await apps.list_apps(core, caller)).apps:
            return
        source = resource_dir("examples") / EXAMPLE_APP
        try:
            await apps.create(core, caller, AppsCreateParams(name=EXAMPLE_APP, path=str(source)))
            job = await deploys.start(core, caller, DeploysStartParams(app=EXAMPLE_APP))
        except RpcError as exc:
            self.announce(f"could not deploy the example app: {exc.message}")
            return
        self.announce(f"deploying the example app from {source} (job {job.id}) ...")
        _, events = await deploys.watch(core, caller, DeploysWatchParams(job=job.id))

        async def report() -> None:
            async for event in events:
                if event.kind in ("deploy.live", "deploy.failed"):
                    self.announce(
                        ("  " if event.kind == "deploy.live" else "  FAILED: ") + event.message
                    )
                    return

        self._example_report = asyncio.create_task(report())

    def _on_signal(self, interactive: bool) -> None:
        """Only set the flag; a second Ctrl-C (never a repeated SIGTERM) exits at once."""
        if interactive:
            self._interrupts += 1
            if self._interrupts > 1:
                log.warning("second Ctrl-C: exiting now, without a clean shutdown")
                os._exit(1)
        self._stop.set()


def _nginx_worker_gid(private: bool, account: Account | None) -> int | None:
    """The group nginx's workers run as: they read certificates at each handshake."""
    if private:
        return account.gid if account is not None else None
    try:
        return grp.getgrnam("www-data").gr_gid
    except KeyError:
        return None


def _mask_own_logs(masks: Masks) -> None:
    """No secret of any app reaches the daemon's own log, tracebacks included."""
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, MaskingFormatter):
            handler.setFormatter(MaskingFormatter(handler.formatter or logging.Formatter(), masks))
