"""A private PostgreSQL cluster inside a directory, for `deployd dev` and the tests.

It listens on a Unix socket in that directory only (no TCP port is taken) and trusts
local connections: the directory's 0700 mode is the access control. initdb and postgres
refuse to run as root, so when the caller is root the cluster belongs to an unprivileged
account (Debian's `postgres`) and every pg_ctl call runs as it.

The apps' cluster (`on_loopback`) also speaks TLS on loopback, with a self-signed
certificate of its own, as Debian's packaged server does with its snakeoil one: apps
written for Heroku ask for it (dj-database-url's `ssl_require=True` is `sslmode=require`,
which encrypts without checking whose certificate it is) and cannot connect without it.
"""

from __future__ import annotations

import datetime
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from psycopg import sql

from deployd import atomic

PORT = 5432
DB_USER = "deployd"
MAX_SOCKET_PATH = 107
CONF = """
# Written by deployd: a private cluster on a Unix socket only.
listen_addresses = ''
unix_socket_directories = '{socket_dir}'
port = {port}
max_connections = 60
shared_buffers = 32MB
fsync = {fsync}
logging_collector = off
"""
APPS_CONF = """
# Written by deployd: the apps' databases. Its Unix socket is deployd's alone (the
# directory's mode); apps reach it on loopback, each role with its own password.
listen_addresses = '{listen}'
password_encryption = scram-sha-256
max_connections = 200
"""
REACH_FILE = "deployd-reach.conf"
REACH_INCLUDE = f"\ninclude_if_exists = '{REACH_FILE}'\n"
APPS_HBA = """# Written by deployd.
local all all                trust
host  all all 127.0.0.1/32   scram-sha-256
host  all all ::1/128        scram-sha-256
"""
TLS_CONF = """
# Written by deployd: TLS for apps that require it (sslmode=require), with the
# self-signed server.crt/server.key of this data directory.
ssl = on
"""


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Bridge:
    """A Docker bridge whose containers reach the apps' cluster: it listens on the
    bridge's gateway too, and takes passwords from the bridge's subnet."""

    gateway: IPv4Address
    subnet: IPv4Network


def free_loopback_port() -> int:
    """A port nothing listens on now, from the kernel's ephemeral range."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def find_pg_bindir() -> Path:
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not versions:
        raise ClusterError(
            "PostgreSQL server binaries not found (initdb): install them, "
            "e.g. `apt-get install postgresql`"
        )
    return versions[-1].parent


class PrivateCluster:
    """`on_loopback`: also listen on 127.0.0.1 (the apps' cluster), on a port chosen when
    it is made and kept, where every role must give its password."""

    def __init__(
        self,
        directory: Path,
        *,
        run_as: str = "postgres",
        durable: bool = True,
        on_loopback: bool = False,
    ):
        self.directory = directory.absolute()
        self.data = self.directory / "data"
        self.log_file = self.directory / "postgres.log"
        self.durable = durable
        self.on_loopback = on_loopback
        self._port: int | None = None
        self._user = run_as if os.geteuid() == 0 else None
        self._bindir: Path | None = None
        socket_path = self.directory / f".s.PGSQL.{PORT}0"  # room for a loopback port
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            raise ClusterError(
                f"{self.directory} is too long a path for a Unix socket: use a shorter --root"
            )

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_pg_bindir()
        return self._bindir

    def conninfo(self, dbname: str = DB_USER) -> str:
        return f"host={self.directory} port={self.port} user={DB_USER} dbname={dbname}"

    @property
    def port(self) -> int:
        """The server's port: its Unix socket's name, and on loopback when it listens there."""
        if not self.on_loopback:
            return PORT
        if self._port is not None:
            return self._port
        try:
            self._port = int((self.directory / "port").read_text())
            return self._port
        except (OSError, ValueError):
            raise ClusterError(
                f"{self.directory}/port is missing: the cluster was never made"
            ) from None

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> bool:
        """Create the cluster and its `deployd` database unless it exists. True if created."""
        if self.initialised:
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        if self.on_loopback:
            (self.directory / "port").write_text(f"{free_loopback_port()}\n")
        self._give_to_owner()
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            DB_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-instructions",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                CONF.format(
                    socket_dir=self.directory, port=self.port, fsync="on" if self.durable else "off"
                )
            )
            if self.on_loopback:
                conf.write(APPS_CONF.format(listen="127.0.0.1"))
        if self.on_loopback:
            (self.data / "pg_hba.conf").write_text(APPS_HBA)
        self._give_to_owner()
        return True

    def running(self) -> bool:
        if not self.initialised:
            return False
        result = self._run("pg_ctl", "-D", str(self.data), "status", check=False)
        return result.returncode == 0

    def start(self, bridges: Sequence[Bridge] = ()) -> bool:
        """Start the server unless it already runs (left by a crashed daemon). True if
        started. `bridges`: where else it listens (the apps' cluster only); one already
        running that listens elsewhere is restarted."""
        changed = self.on_loopback and self._reach(bridges)
        if self.running():
            if changed:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "restart")
            return False
        if self.on_loopback:
            self._ensure_tls()
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_file), "-w", "-t", "60", "start"
        )
        return True

    def _reach(self, bridges: Sequence[Bridge]) -> bool:
        """Write where the server listens and whom it asks for a password: loopback and
        each bridge. True if that changed."""
        listen = ",".join(["127.0.0.1", *(str(b.gateway) for b in bridges)])
        reach = f"# Written by deployd at each start.\nlisten_addresses = '{listen}'\n"
        hba = APPS_HBA + "".join(f"host  all all {b.subnet}   scram-sha-256\n" for b in bridges)
        owner = None
        if self._user is not None:
            entry = self._account()
            owner = (entry.pw_uid, entry.pw_gid)
        conf = self.data / "postgresql.conf"
        text = conf.read_text()
        if REACH_INCLUDE not in text:  # a cluster made by an older deployd
            atomic.write(conf, text + REACH_INCLUDE, 0o600, owner)
        changed = False
        for path, text in ((self.data / REACH_FILE, reach), (self.data / "pg_hba.conf", hba)):
            try:
                if path.read_text() == text:
                    continue
            except FileNotFoundError:
                pass
            atomic.write(path, text, 0o600, owner)
            changed = True
        return changed

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def ensure_database(self, name: str = DB_USER) -> None:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def _ensure_tls(self) -> None:
        """A certificate and `ssl = on`, unless it has them: an apps' cluster made before
        deployd gave it TLS gets it at its next start."""
        conf = self.data / "postgresql.conf"
        if TLS_CONF in conf.read_text():
            return
        pem_certificate, pem_key = self_signed_certificate()
        owner = None
        if self._user is not None:
            entry = self._account()
            owner = (entry.pw_uid, entry.pw_gid)
        # postgres refuses a key others may read
        atomic.write(self.data / "server.key", pem_key, mode=0o600, owner=owner)
        atomic.write(self.data / "server.crt", pem_certificate, mode=0o644, owner=owner)
        with conf.open("a") as written:
            written.write(TLS_CONF)  # last: a start cut short before it makes both again

    def _give_to_owner(self) -> None:
        if self._user is None:
            return
        entry = self._account()
        for path in [self.directory, *self.directory.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        self._check_reachable(entry)

    def _account(self) -> pwd.struct_passwd:
        assert self._user is not None
        try:
            return pwd.getpwnam(self._user)
        except KeyError:
            raise ClusterError(
                f"running as root, the private PostgreSQL needs the unprivileged account "
                f"{self._user!r}: install PostgreSQL (it creates `postgres`) or set "
                f"DEPLOYD_PG_USER"
            ) from None

    def _check_reachable(self, entry: pwd.struct_passwd) -> None:
        for parent in self.directory.parents:
            mode = parent.stat().st_mode
            if parent.stat().st_uid != entry.pw_uid and not mode & 0o001:
                raise ClusterError(
                    f"{entry.pw_name} cannot enter {parent} (mode {mode & 0o777:o}): "
                    f"choose a --root below a directory others may traverse, e.g. /srv or /tmp"
                )

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / tool), *args]
        user = group = None
        extra_groups: list[int] | None = None
        if self._user is not None:
            entry = self._account()
            user, group, extra_groups = entry.pw_uid, entry.pw_gid, []
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        result = subprocess.run(
            command,
            cwd=self.directory,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            user=user,
            group=group,
            extra_groups=extra_groups,
        )
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise ClusterError(f"{tool} failed: " + " / ".join(detail))
        return result


def self_signed_certificate() -> tuple[bytes, bytes]:
    """(certificate, private key) in PEM for the apps' server on loopback, for ten years:
    sslmode=require checks no certificate, so nothing is gained by signing it elsewhere."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "deployd apps' PostgreSQL")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
