"""The `systemd` runtime: each slot is a generated unit, `deployd-<app>-<slot>.service`.

The unit runs the slot's launcher (the process runtime's, with `--tee` so the masked output
also reaches the journal), which starts the app as the app's own account; hardened
(NoNewPrivileges, ProtectSystem=strict with the release and its log directory writable,
PrivateTmp, ProtectHome), with MemoryMax
and CPUQuota from deployd.toml. systemd starts and stops it; the unit's main process is the
slot's handle, so "is it running?" is answered as for every runtime. `Restart=no`: deployd's
own back-off restarts crashed slots. There is no [Install] section: after a reboot the
daemon's start brings live slots back, as it does for the other runtimes.

The unit does not use `EnvironmentFile=`: systemd's parser does not read the escapes of the
env file (`\\n` in a multi-line value), and the launcher, which does, is the one reader.
The launcher keeps the daemon's user (as on every runtime) and drops to the app's account
only for the app, so the app can neither read its env file nor write its log directly.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import jinja2
import psutil

from deployd import atomic

from .base import Handle, LaunchSpec, StartError, write_pid_file
from .process import ProcessRuntime

_SAFE = re.compile(r"[A-Za-z0-9_./:=@+-]+")


def systemd_arg(value: object) -> str:
    """One word of an ExecStart= line: quoted, with `$` and `%` kept from expansion."""
    text = str(value)
    if "\n" in text or "\x00" in text:
        raise ValueError("a unit file argument cannot hold a newline or NUL")
    if _SAFE.fullmatch(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("$", "$$").replace("%", "%%") + '"'


class SystemdError(StartError):
    pass


class SystemdRuntime:
    name = "systemd"

    def __init__(
        self,
        launchers: ProcessRuntime,
        *,
        templates: Path,
        unit_dir: Path,
        systemctl: str = "systemctl",
        python: str = sys.executable,
    ) -> None:
        self.launchers = launchers
        self.python = python
        self.unit_dir = unit_dir
        self.systemctl = systemctl
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates / "systemd")),
            # a unit file, not HTML: every word goes through `arg`, which quotes it for systemd
            autoescape=False,  # noqa: S701
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["arg"] = systemd_arg

    @staticmethod
    def unit_name(app: str, slot: str, process: str) -> str:
        """`deployd-shop.blue.web.1.service`: an app's name has no dot, so no app's units
        ever look like another's."""
        return f"deployd-{app}.{slot}.{process}.service"

    def render(self, spec: LaunchSpec) -> str:
        if spec.command is None:
            raise StartError(f"no command to run for {spec.process} (see the Procfile)")
        unit = self.unit_name(spec.app, spec.slot, spec.process)
        return self.env.get_template("slot.service.j2").render(
            unit=unit,
            identifier=unit.removesuffix(".service"),
            app=spec.app,
            slot=spec.slot,
            process=spec.process,
            release=spec.release,
            quiet_path=spec.quiet_path,
            user="{}:{}".format(*spec.user) if spec.user else None,
            workdir=spec.workdir,
            app_mount=spec.app_mount,
            python=self.python,
            env_file=spec.env_file,
            log_file=spec.log_file,
            log_dir=spec.log_file.parent,
            command=spec.command,
            stop_timeout=round(spec.stop_timeout),
            memory_bytes=spec.memory_bytes,
            cpu_quota=round(spec.cpus * 100) if spec.cpus else None,
        )

    def start(self, spec: LaunchSpec) -> Handle:
        unit = self.unit_name(spec.app, spec.slot, spec.process)
        atomic.write(self.unit_dir / unit, self.render(spec))
        spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        spec.log_file.touch(mode=0o640)
        self._run("daemon-reload")
        self._run("reset-failed", unit, check=False)
        self._run("start", unit)
        pid = int(self._run("show", "--property=MainPID", "--value", unit).strip() or 0)
        try:
            handle = Handle(pid, psutil.Process(pid).create_time())
        except (psutil.NoSuchProcess, ValueError):
            raise StartError(f"{unit} started but is not running") from None
        write_pid_file(spec.pid_file, handle)
        return handle

    def ours(self, app: str, slot: str, process: str, handle: Handle) -> Callable[[int], bool]:
        """The unit's main process is the launcher: the same family as a process's."""
        return self.launchers.ours(app, slot, process, handle)

    async def stop(
        self, app: str, slot: str, process: str, handles: Iterable[Handle], timeout: float
    ) -> None:
        """systemd stops the unit: SIGTERM to its cgroup, SIGKILL after TimeoutStopSec."""
        unit = self.unit_name(app, slot, process)
        await asyncio.to_thread(self._run, "stop", unit, check=False)

    def forget(self, app: str) -> None:
        """Remove a deleted app's units (`deployd-shop.*`, and an older deployd's
        `deployd-shop-blue`: never `deployd-shop-api.*`)."""
        older = [self.unit_dir / f"deployd-{app}-{slot}.service" for slot in ("blue", "green")]
        units = sorted(self.unit_dir.glob(f"deployd-{app}.*.service")) + [
            unit for unit in older if unit.exists()
        ]
        for unit in units:
            self._run("stop", unit.name, check=False)
            unit.unlink(missing_ok=True)
        if units:
            self._run("daemon-reload", check=False)

    def _run(self, *args: str, check: bool = True) -> str:
        try:
            done = subprocess.run(
                [self.systemctl, *args], capture_output=True, text=True, timeout=120
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SystemdError(f"systemctl {args[0]} failed: {exc}") from None
        if check and done.returncode != 0:
            raise SystemdError(f"systemctl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout
