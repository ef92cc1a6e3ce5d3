"""nginx: render an app's site, test it, reload, verify — or put the old site back.

In dev deployd runs a private nginx (its own prefix, config and port) that it starts,
reloads and stops; in production it writes `deployd-<app>.conf` into the system nginx's
include directory and reloads that nginx. Either way no change reaches a running nginx
without passing `nginx -t`, and a failed change is reverted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
import psutil

from deployd import atomic, failpoints, httpcheck
from deployd.domain import traffic

log = logging.getLogger(__name__)

SYSTEM_PID_FILE = Path("/run/nginx.pid")
RELOAD_TIMEOUT = 10.0


class ProxyError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Site:
    """What an app's site file says: it changes when ports, names or certificates change,
    never on a deploy (that only moves the switch, see `Nginx.switch`)."""

    app: str
    blue_ports: tuple[int, ...]
    """The blue slot's web ports, web.1's first: an upstream serves the first n of them."""
    green_ports: tuple[int, ...]
    server_names: tuple[str, ...]
    """Served over plain HTTP: the app's own name and domains without a certificate."""
    tls_names: tuple[str, ...] = ()
    """Served over HTTPS (plain HTTP redirects), each with its certificate."""
    hsts_names: tuple[str, ...] = ()
    max_body_size: str = "50m"
    trusted_proxies: tuple[str, ...] = ()


BUCKETS = ("server_names_hash_bucket_size", "map_hash_bucket_size")
LEGACY_BASELINE = "deployd_baseline.conf"
"""Where an older deployd kept the baseline (sorted after the sites)."""


@dataclass(frozen=True, slots=True)
class Control:
    """deployd's own host name (`DEPLOYD_CONTROL_DOMAIN`): `deployd web` behind it."""

    name: str
    upstream: str
    """host:port of `deployd web`."""
    pem: Path | None = None
    """Its certificate and key, once issued: then it is served over HTTPS only."""


@dataclass(frozen=True, slots=True)
class Baseline:
    """The default servers (and, for the private nginx, what nginx.conf would set)."""

    https: bool = False
    """Some site serves HTTPS: a default TLS server refuses handshakes for other names."""
    control: Control | None = None


@dataclass(frozen=True, slots=True)
class Live:
    """Where an app's switch points: which slot, serving which release, with how many web
    processes (0: the release runs none, its address says so)."""

    slot: str
    release: int
    """The release's number (v<release>): nginx answers with it in X-Deployd-Release."""
    web: int = 1


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


class Nginx:
    def __init__(
        self,
        *,
        templates: Path,
        sites_dir: Path,
        switch_dir: Path,
        listen: str,
        http_port: int,
        https_listen: str,
        https_port: int,
        webroot: Path,
        certs_dir: Path,
        access_logs: Path,
        check_token: str,
        prefix: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.sites_dir = sites_dir
        self.access_logs = access_logs
        """One access log per app, in deployd's format (`domain/traffic.py`)."""
        self.check_token = check_token
        """Sent with deployd's own requests through nginx, so they are not counted."""
        self.switch_dir = switch_dir
        self.listen = listen
        self.http_port = http_port
        self.https_listen = https_listen
        self.https_port = https_port
        self.webroot = webroot
        self.certs_dir = certs_dir
        self.prefix = prefix
        self.user = user
        self.binary = find_nginx()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)),
            # nginx config, not HTML: no escaping applies; every value is validated upstream
            autoescape=False,  # noqa: S701
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # -- the private nginx of dev mode -------------------------------------------------

    @property
    def conf(self) -> Path | None:
        return self.prefix / "nginx.conf" if self.prefix else None

    def _base(self) -> list[str]:
        if self.binary is None:
            raise ProxyError("nginx is not installed: `apt-get install nginx`")
        if self.prefix is None:
            return [self.binary]
        return [
            self.binary,
            "-p",
            str(self.prefix),
            "-c",
            str(self.conf),
            "-e",
            str(self.prefix / "logs" / "error.log"),
        ]

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._base(), *args], capture_output=True, text=True, timeout=60, check=False
        )

    def _pid(self) -> int | None:
        """The private nginx's master, when it runs."""
        if self.prefix is None:
            return None
        pid = self._master_pid()
        if pid is None:
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def start(self) -> None:
        """Dev: write the main config and start (or adopt, and reload) the private nginx."""
        assert self.prefix is not None and self.conf is not None
        for sub in ("logs", "tmp", "sites"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        # the master (root) opens the logs and hands its workers the descriptors: requests
        # of every app are in them, so only the daemon may read them
        (self.prefix / "logs").chmod(0o700)
        self.sites_dir.mkdir(parents=True, exist_ok=True)
        mime_types = Path("/etc/nginx/mime.types")
        content = self.env.get_template("nginx/nginx.conf.j2").render(
            prefix=self.prefix,
            sites_dir=self.sites_dir,
            user=self.user,
            mime_types=mime_types if mime_types.is_file() else None,
        )
        if self.current_baseline() is None:  # a first start: the sites need it
            (self.sites_dir / LEGACY_BASELINE).unlink(missing_ok=True)
            atomic.write(self.baseline_path, self.render_baseline(Baseline()))
        running = self._pid() is not None
        try:
            unchanged = self.conf.read_text() == content
        except FileNotFoundError:
            unchanged = False
        if running and unchanged:
            return  # adopted as it is: a reload would close its clients' idle connections
        atomic.write(self.conf, content)
        self._check()
        if running:
            self._reload()
            return
        result = self._run()
        if result.returncode != 0:
            raise ProxyError(f"nginx did not start: {_last_line(result)}")

    def stop(self) -> None:
        pid = self._pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)  # graceful: finish requests, then exit

    # -- sites ---------------------------------------------------------------------------

    def site_path(self, app: str) -> Path:
        return self.sites_dir / f"deployd-{app}.conf"

    def render(self, site: Site) -> str:
        return self.env.get_template("nginx/site.conf.j2").render(
            app=site.app,
            ident=site.app.replace("-", "_"),
            slot_ports={"blue": site.blue_ports, "green": site.green_ports},
            http_names=site.server_names,
            tls_names=site.tls_names,
            hsts_names=site.hsts_names,
            max_body_size=site.max_body_size,
            trusted_proxies=site.trusted_proxies,
            listen=self.listen,
            https_listen=self.https_listen,
            https_suffix="" if self.https_port == 443 else f":{self.https_port}",
            switch_link=self.switch_link(site.app),
            webroot=self.webroot,
            certs_dir=self.certs_dir,
            access_log=self.access_log(site.app),
            log_format=traffic.FORMAT_NAME,
        )

    def access_log(self, app: str) -> Path:
        return self.access_logs / f"{app}.log"

    # -- the baseline every site relies on ---------------------------------------------

    @property
    def baseline_path(self) -> Path:
        """Not `deployd-*.conf`: the reconciler owns those, one per app. Sorted before
        them: the hash sizes it sets must come before the sites' first `map`."""
        return self.sites_dir / "00-deployd-baseline.conf"

    def render_baseline(self, baseline: Baseline, long_names: bool = True) -> str:
        return self.env.get_template("nginx/baseline.conf.j2").render(
            long_names=long_names,
            private=self.prefix is not None,
            listen=self.listen,
            https_listen=self.https_listen,
            https=baseline.https or (baseline.control is not None and baseline.control.pem),
            https_suffix="" if self.https_port == 443 else f":{self.https_port}",
            control=baseline.control,
            webroot=self.webroot,
            log_format_name=traffic.FORMAT_NAME,
            log_format=traffic.LOG_FORMAT,
        )

    def current_baseline(self) -> str | None:
        try:
            return self.baseline_path.read_text()
        except FileNotFoundError:
            return None

    def apply_baseline(self, baseline: Baseline) -> bool:
        """Write the baseline when it differs (test, reload; revert on failure)."""
        content = self.render_baseline(baseline)
        previous = self.current_baseline()
        if content == previous:
            return False
        (self.sites_dir / LEGACY_BASELINE).unlink(missing_ok=True)
        self._write(self.baseline_path, content)
        try:
            self._check()
        except ProxyError as exc:
            if not any(bucket in str(exc) for bucket in BUCKETS):
                self._write(self.baseline_path, previous)
                raise
            # the host's nginx.conf sets the bucket size itself: it decides how long a
            # name may be (names too long for it are refused by `nginx -t` at attach)
            log.warning("nginx.conf sets the hash bucket sizes itself; keeping its values")
            self._write(self.baseline_path, self.render_baseline(baseline, long_names=False))
            try:
                self._check()
            except ProxyError:
                self._write(self.baseline_path, previous)
                raise
        if self.prefix is None or self._pid() is not None:
            self._reload()
        return True

    # -- the switch: a symlink nginx resolves per request --------------------------------

    def switch_link(self, app: str) -> Path:
        return self.switch_dir / app / "current"

    def live(self, app: str) -> Live | None:
        """Where the switch points now, read back from the symlink (None: parked, or no
        switch at all)."""
        try:
            target = os.readlink(self.switch_link(app))
        except OSError:
            return None
        parts = Path(target).name.split("-")
        if len(parts) == 2:  # an older deployd's switch: one web process
            parts.append("1")
        if len(parts) != 3 or not parts[0].isdigit() or parts[1] not in ("blue", "green"):
            return None
        if not parts[2].isdigit():
            return None
        return Live(parts[1], int(parts[0]), int(parts[2]))

    def parked(self, app: str) -> str | None:
        """Why the app's switch is parked ("new", "stopped", "down"); None when it points
        at a release, or there is no switch."""
        try:
            target = Path(os.readlink(self.switch_link(app))).name
        except OSError:
            return None
        return target.removeprefix("parked-") if target.startswith("parked-") else None

    def switch(self, app: str, live: Live | None, parked: str = "new") -> None:
        """Point the app's traffic at `live` with one atomic rename; None parks it (nginx
        answers 503 saying why: `parked` is "new", "stopped" or "down").

        Takes effect on nginx's next request, in every worker, with no reload: keep-alive
        clients never see their connection closed by a deploy.
        """
        link = self.switch_link(app)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.parent.chmod(0o755)
        release = f"{live.release}-{live.slot}-{live.web}" if live else ""
        name = release or f"parked-{parked}"
        (link.parent / name).mkdir(mode=0o755, exist_ok=True)
        tmp = link.with_name(f".current-{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(name)
        tmp.replace(link)
        for stale in link.parent.iterdir():
            if stale.is_dir() and not stale.is_symlink() and stale.name != name:
                with contextlib.suppress(OSError):
                    stale.rmdir()

    def forget(self, app: str) -> None:
        """Remove an app's switch entirely (the app is deleted)."""
        shutil.rmtree(self.switch_dir / app, ignore_errors=True)

    def current(self, app: str) -> str | None:
        try:
            return self.site_path(app).read_text()
        except FileNotFoundError:
            return None

    def apply(self, app: str, content: str | None) -> None:
        """Install a site (None removes it), test, reload; on failure restore and raise."""
        path = self.site_path(app)
        previous = self.current(app)
        self._write(path, content)
        try:
            self._check()
        except ProxyError:
            self._write(path, previous)
            raise
        failpoints.hit("before-reload")
        self._reload()

    def _write(self, path: Path, content: str | None) -> None:
        if content is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        else:
            atomic.write(path, content)

    def _check(self) -> None:
        result = self._run("-t", "-q")
        if result.returncode != 0:
            raise ProxyError(f"nginx rejected the configuration: {_last_line(result)}")

    def _reload(self) -> None:
        """Reload, then wait until no worker of the old configuration accepts connections.

        nginx answers a reload by starting new workers, sleeping 100 ms, then asking the
        old ones to quit: meanwhile an old worker can still accept a connection and serve
        it with the old configuration (for a new site: the default server, which closes
        it). Old workers show they stopped accepting by retitling themselves "is shutting
        down". Reloads happen only when a site is added, removed or changes its ports or
        names, never on a switch.
        """
        old = self._accepting_workers()
        result = self._run("-s", "reload")
        if result.returncode != 0:
            raise ProxyError(f"nginx reload failed: {_last_line(result)}")
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while old & self._accepting_workers():
            if time.monotonic() > deadline:
                raise ProxyError("nginx's old workers kept accepting after the reload")
            time.sleep(0.005)

    def reopen_logs(self) -> None:
        """nginx opens its log files again (after one was renamed by a rotation), by a
        reload: its master opens them (as root) for new workers. `reopen` (USR1) would
        have the workers open them themselves, which they cannot: the logs' directories
        are root's alone."""
        self._reload()

    def _master_pid(self) -> int | None:
        pid_file = self.prefix / "nginx.pid" if self.prefix else SYSTEM_PID_FILE
        try:
            return int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _accepting_workers(self) -> set[int]:
        pid = self._master_pid()
        if pid is None:
            return set()
        try:
            children = psutil.Process(pid).children()
        except psutil.Error:
            return set()
        accepting = set()
        for child in children:
            with contextlib.suppress(psutil.Error):
                title = " ".join(child.cmdline())
                if "worker process" in title and "shutting down" not in title:
                    accepting.add(child.pid)
        return accepting

    async def verify(self, host: str, release: int, timeout: float = 10.0) -> None:
        """Wait until nginx answers for `host` from release v`release` (new workers are up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = "no answer"
        while loop.time() < deadline:
            try:
                reply = await httpcheck.get(
                    self.http_port, "/", host=host, timeout=2.0, check=self.check_token
                )
            except (OSError, TimeoutError) as exc:
                last = str(exc) or type(exc).__name__
            else:
                served = reply.headers.get("x-deployd-release")
                if served == str(release):
                    return
                last = f"nginx still serves v{served} (HTTP {reply.status})"
            await asyncio.sleep(0.02)
        raise ProxyError(f"nginx did not switch to v{release}: {last}")


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    """nginx's reason: its first complaint (the summary "test failed" says nothing)."""
    lines = (result.stderr or result.stdout).strip().splitlines()
    for line in lines:
        for level in ("[emerg]", "[alert]", "[crit]", "[error]"):
            if level in line:
                return line[line.index(level) :]
    return lines[-1] if lines else f"exit status {result.returncode}"
