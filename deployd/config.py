"""Settings, paths and what kind of host this is.

Every setting is a `DEPLOYD_*` environment variable and may also be written in the config
file (`/etc/deployd/deployd.toml`, or `<root>/deployd.toml` when re-rooted); the
environment wins over the file. One setting, `DEPLOYD_ROOT`, re-roots every path, which is
how tests and `deployd dev` run the production code paths without touching the system.
"""

from __future__ import annotations

import ipaddress
import os
import platform
import shutil
import socket
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from deployd.domain.errors import DomainError
from deployd.domain.github import check_base_url

PRODUCTION_CONFIG_FILE = Path("/etc/deployd/deployd.toml")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEPLOYD_", extra="forbid", frozen=True)

    root: Path | None = None
    """Re-root every path below this directory (tests, `deployd dev`)."""
    database_url: str | None = None
    """libpq conninfo or URL; `deployd dev` makes its own private cluster instead."""
    socket: Path | None = None
    socket_mode: int = Field(default=0o660, ge=0, le=0o777)
    group: str = "deployd"
    """Unix group whose members may connect; unmapped members act with `group_role`."""
    group_role: Literal["viewer", "deployer", "admin"] = "viewer"
    bootstrap_admin: str = "admin"
    handshake_timeout: float = Field(default=10.0, gt=0)
    """Seconds a new connection has to send its first request."""
    idle_timeout: float = Field(default=3600.0, gt=0)
    max_connections: int = Field(default=512, ge=1)
    pg_user: str = "postgres"
    """Unprivileged account that runs the private cluster when `deployd dev` runs as root."""
    db_pool_size: int = Field(default=8, ge=1, le=100)
    port_range: str = Field(default="20000-29999", pattern=r"^[0-9]{4,5}-[0-9]{4,5}$")
    """Slot ports are taken from here, two per app, skipping ports others use."""
    http_port: int | None = Field(default=None, ge=1, le=65535)
    """Where nginx listens for apps: 8080 in dev, 80 in production."""
    base_domain: str = Field(default="localhost", pattern=r"^[a-z0-9]([a-z0-9.-]{0,200}[a-z0-9])?$")
    """Every app answers at <app>.<base_domain>."""
    max_source_size: int = Field(default=1024**3, ge=1024 * 1024)
    """Bytes of file content a source may hold (a checkout, a directory); also caps a
    network repository's fetched pack."""
    max_file_size: int = Field(default=512 * 1024**2, ge=1024)
    """The largest single file a source may hold (and a build's unpacking may write)."""
    max_source_files: int = Field(default=200_000, ge=100)
    fetch_timeout: float = Field(default=600.0, gt=0)
    """Seconds a fetch of a source (clone, fetch, export, copy) may take."""
    build_timeout: float = Field(default=1800.0, gt=0)
    """Seconds all steps of one native build may take together."""
    max_build_log: int = Field(default=16 * 1024**2, ge=64 * 1024)
    """Bytes of one build's output that are kept; the rest is dropped, with a note."""
    python: str = "/usr/bin/python3"
    """Interpreter that makes Python apps' virtualenvs when an app asks for no version."""
    pythons: Annotated[tuple[str, ...], NoDecode] = ()
    """More interpreters apps may ask for (comma-separated paths), besides the python3.N in
    /usr/bin and /usr/local/bin; every account must be able to run them."""
    nginx_sites_dir: Path = Path("/etc/nginx/conf.d")
    """Production: where the system nginx includes deployd's site files from."""
    log_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """An app's slot log is rotated when it grows past this."""
    analytics_minutes_days: int = Field(default=14, ge=1, le=3650)
    """Days request analytics keep their minutes (then hours, then days: the next two)."""
    analytics_hours_days: int = Field(default=90, ge=1, le=3650)
    analytics_days_days: int = Field(default=730, ge=1, le=36500)
    analytics_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    """Room each app's request analytics may take in PostgreSQL; past it, its oldest
    minutes (then hours) go first."""
    access_log_max_bytes: int = Field(default=64 * 1024 * 1024, ge=4096)
    """`deployd dev`: an app's nginx access log is rotated (once read) past this size;
    production rotates them with logrotate (templates/logrotate/deployd)."""
    host_sample_seconds: float = Field(default=10.0, ge=0.2, le=300.0)
    """Seconds between two samples of the host (each streamed as a `host.sample` event;
    stored as a row a minute)."""
    log_keep: int = Field(default=3, ge=1, le=100)
    """Rotated slot logs kept per slot (`blue.log.1` is the newest)."""
    max_jobs: int = Field(default=4, ge=1, le=64)
    """Deploys of different apps that may run at once."""
    docker_network: Literal["bridge", "host"] = "bridge"
    """Docker apps' network: a bridge with the slot port published on 127.0.0.1, or the
    host's (per app: `[docker] network` in deployd.toml)."""
    docker_host: str | None = None
    """The Docker Engine (default: $DOCKER_HOST, else unix:///var/run/docker.sock)."""
    systemd_unit_dir: Path = Path("/etc/systemd/system")
    """Where the systemd runtime writes the slots' units."""
    secret_key_file: Path | None = None
    """The vault's key file (default: `secret.key` in the config directory)."""
    https_port: int | None = Field(default=None, ge=1, le=65535)
    """Where nginx serves HTTPS: 8443 in dev, 443 in production."""
    max_body_size: str = Field(default="50m", pattern=r"^[0-9]{1,6}[kmg]?$")
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    """Addresses or networks of proxies in front of nginx, whose X-Forwarded-For is believed
    for the client's address (comma-separated)."""
    acme_directory: str = Field(
        default="https://acme-v02.api.letsencrypt.org/directory", pattern=r"^https://\S+$"
    )
    """The ACME server: Let's Encrypt, its staging, or any other."""
    acme_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    acme_ca_bundle: Path | None = None
    """A CA file to trust the ACME server's own TLS (for private ACME servers)."""
    acme_renew_days: int = Field(default=30, ge=1, le=3650)
    """Certificates with fewer days left than this are renewed."""
    acme_check_interval: float = Field(default=86400.0, gt=0)
    """Seconds between two looks at every certificate's expiry (daily)."""
    certbot: str = "certbot"
    dns_servers: Annotated[tuple[str, ...], NoDecode] = ()
    """Resolvers for `domains verify` (host or host:port, comma-separated); default the
    system's."""
    apps_database_url: str | None = None
    """Admin conninfo (libpq keywords or URL) of the PostgreSQL that holds the apps'
    databases; `deployd dev` makes its own cluster, apart from deployd's state."""
    apps_database_address: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9.:\[\]-]{1,200}:[0-9]{1,5}$"
    )
    """HOST:PORT apps are given in their DATABASE_URL (default: the admin conninfo's host
    and port, or 127.0.0.1 and the dev cluster's port)."""
    db_connection_limit: int = Field(default=20, ge=1, le=10000)
    """Connections one database's role may hold at once."""
    db_tools_user: str | None = None
    """The account pg_dump, pg_restore and psql run as when the daemon is root (default:
    the account of the dev cluster, `pg_user`); never root."""
    backup_s3_endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s/]+/?$")
    """S3-compatible storage that gets an encrypted copy of every verified backup
    (its keys: `deployctl db remote set`)."""
    backup_s3_bucket: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
    )
    backup_s3_region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]{1,40}$")
    backup_s3_prefix: str = Field(default="deployd", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    """Copies are stored as `<prefix>/<database>/<backup>.dump.age`."""
    update_source: str = Field(
        default="https://github.com/deployd/deployd.git",
        pattern=r"^(git\+)?(https?|file|ssh)://\S{1,1000}$",
    )
    """Where `deployctl self-update` finds versions: a git repository of deployd (its
    `vX.Y.Z` tags) or a package index's simple API (its deployd wheels)."""
    install_dir: Path = Path("/opt/deployd")
    """install.sh's layout: a virtualenv per version in `versions/`, `current` the one
    the service runs."""
    service_unit: str = Field(
        default="deployd.service", pattern=r"^[A-Za-z0-9@._-]{1,200}\.service$"
    )
    update_check_timeout: float = Field(default=60.0, gt=0, le=3600)
    """Seconds a self-updated daemon has to answer as its new version, with its database,
    before the old one is put back."""
    github_client_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,100}$")
    """The OAuth app `deployctl github login` signs in with (device flow enabled)."""
    github_api_url: str = "https://api.github.com"
    """GitHub Enterprise: `https://HOST/api/v3`."""
    github_url: str = "https://github.com"
    """Where people approve a login and repositories are cloned from."""
    control_domain: str | None = Field(
        default=None, pattern=r"^[a-z0-9]([a-z0-9.-]{0,200}[a-z0-9])?$"
    )
    """The host name of deployd's own web part (`deployd web`): GitHub's webhooks reach
    `https://<control_domain>/hooks/github` through nginx."""
    github_hook_url: str | None = None
    """Where GitHub sends webhooks, if not `https://<control_domain>/hooks/github` (a
    local stand-in: http to a loopback address)."""
    web_user: str = Field(default="deployd_web", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    """The Unix user `deployd web` runs as (deployd-web.service's): its calls may carry a
    webhook's body, up to 25 MB. With an underscore, which no app's name has, so no app's
    account can ever be it."""
    web_listen: str = "127.0.0.1"
    """The address `deployd web` (GitHub's webhooks) listens on; expose it through nginx on a
    domain with TLS rather than on a public address."""
    web_port: int = Field(default=8090, ge=1, le=65535)
    web_stream_seconds: float = Field(default=600.0, gt=0, le=86400)
    """How long a web page's live stream lasts before the browser opens it again from the
    last event it saw: a session that ended stops its stream within it."""
    github_forks: bool = False
    """Pull requests from forks get previews too (their code then runs on this host)."""
    preview_limit: int = Field(default=10, ge=0, le=1000)
    """Previews one app may have at once (each is an app: an account, ports, a build)."""
    preview_ttl: float = Field(default=7 * 86400.0, gt=0)
    """Seconds a preview app lives without a push before the reaper removes it (a closed
    pull request whose event was missed)."""
    public_addresses: Annotated[tuple[str, ...], NoDecode] = ()
    """Addresses that count as this host for `domains verify` (behind NAT: the public one);
    default the host's own non-loopback addresses."""

    @field_validator("trusted_proxies", "dns_servers", "public_addresses", "pythons", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies", "public_addresses")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad one
        return value

    @field_validator("web_listen")
    @classmethod
    def _listen_address(cls, value: str) -> str:
        ipaddress.ip_address(value)  # an address, not a name: what is listened on is exact
        return value

    @field_validator("dns_servers")
    @classmethod
    def _servers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            host, _, port = item.rpartition(":") if item.count(":") == 1 else (item, "", "")
            ipaddress.ip_address(host or item)
            if port and not (port.isdigit() and 0 < int(port) < 65536):
                raise ValueError(f"not a port: {port!r}")
        return value

    @field_validator("github_api_url", "github_url", "github_hook_url")
    @classmethod
    def _github_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        try:
            return check_base_url(value, f"DEPLOYD_{(info.field_name or '').upper()}")
        except DomainError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("socket_mode", mode="before")
    @classmethod
    def _octal(cls, value: object) -> object:
        """Modes are written the way chmod takes them: "0660" means octal."""
        if isinstance(value, str):
            try:
                return int(value, 8)
            except ValueError:
                raise ValueError(f"not an octal file mode: {value!r}") from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the config file, which arrives as init kwargs.
        return (env_settings, init_settings)

    @property
    def paths(self) -> Paths:
        return Paths.for_root(self.root, self.socket)

    @property
    def key_file(self) -> Path:
        return self.secret_key_file or self.paths.config_dir / "secret.key"

    @property
    def audit_key_file(self) -> Path:
        """Beside the vault's key (and backed up with it)."""
        return self.key_file.with_name("audit.key")

    @property
    def audit_anchor_file(self) -> Path:
        return self.paths.data_dir / "audit.anchor"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment over the config file, then explicit overrides (CLI)."""
    root = overrides.get("root") or os.environ.get("DEPLOYD_ROOT")
    config_file = Path(
        os.environ.get("DEPLOYD_CONFIG")
        or (Path(root) / "deployd.toml" if root else PRODUCTION_CONFIG_FILE)
    )
    file_values: dict[str, Any] = {}
    if config_file.is_file():
        with config_file.open("rb") as fh:
            file_values = tomllib.load(fh)
    settings = Settings(**file_values)
    updates = {k: v for k, v in overrides.items() if v is not None}
    if updates:
        settings = Settings.model_validate({**settings.model_dump(), **updates})
    return settings


@dataclass(frozen=True, slots=True)
class Paths:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    run_dir: Path
    socket: Path
    rerooted: bool

    @classmethod
    def for_root(cls, root: Path | None, socket_override: Path | None = None) -> Paths:
        if root is None:
            run_dir = Path("/run/deployd")
            return cls(
                config_dir=Path("/etc/deployd"),
                data_dir=Path("/var/lib/deployd"),
                log_dir=Path("/var/log/deployd"),
                run_dir=run_dir,
                socket=socket_override or run_dir / "deployd.sock",
                rerooted=False,
            )
        root = root.absolute()
        return cls(
            config_dir=root,
            data_dir=root / "data",
            log_dir=root / "logs",
            run_dir=root,
            socket=socket_override or root / "deployd.sock",
            rerooted=True,
        )

    @property
    def lock_file(self) -> Path:
        return self.run_dir / "deployd.lock"

    @property
    def acme_dir(self) -> Path:
        """certbot's config and work directories, and the webroot of http-01 challenges."""
        return self.data_dir / "acme"

    @property
    def certs_dir(self) -> Path:
        """One PEM per domain (chain and key), which nginx reads at each handshake."""
        return self.data_dir / "tls"

    @property
    def nginx_dir(self) -> Path:
        """The private nginx of `deployd dev`."""
        return self.run_dir / "nginx"

    def app_dir(self, app: str) -> Path:
        return self.data_dir / "apps" / app

    def app_logs(self, app: str) -> Path:
        return self.log_dir / "apps" / app

    @property
    def pg_dir(self) -> Path:
        """The private PostgreSQL cluster of `deployd dev`."""
        return self.run_dir / "pg"

    @property
    def apps_pg_dir(self) -> Path:
        """The apps' databases' cluster of `deployd dev`, apart from deployd's own."""
        return self.run_dir / "apps-pg"

    @property
    def access_logs_dir(self) -> Path:
        """nginx's access log of each app, which deployd reads into its analytics."""
        return self.log_dir / "access"

    @property
    def backups_dir(self) -> Path:
        """Verified dumps, one directory per database; the daemon's alone."""
        return self.data_dir / "backups"

    def create(self) -> None:
        """Make the directories; the data directory may be crossed by the apps' accounts
        (each reaches only its own app's directory below it) but not listed, and the logs
        are the daemon's alone (apps' and builds' output is served through the socket)."""
        for directory in (self.config_dir, self.data_dir, self.log_dir, self.run_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o711)
        self.log_dir.chmod(0o700)
        self.access_logs_dir.mkdir(mode=0o700, exist_ok=True)

    def unreachable_ancestor(self) -> Path | None:
        """The first directory above the data directory that other accounts cannot cross
        (apps' accounts could not reach their builds below it); None when all can."""
        for directory in reversed(self.data_dir.parents):
            if not directory.stat().st_mode & 0o001:
                return directory
        return None


def resource_dir(name: str) -> Path:
    """`migrations/` or `templates/`: beside the package in a checkout, inside it in a wheel."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_data" / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"deployd's {name}/ directory is missing from this installation")


@dataclass(frozen=True, slots=True)
class HostFacts:
    hostname: str
    os: str
    kernel: str
    python: str
    cpus: int
    memory_bytes: int
    root: bool
    systemd: bool
    docker: bool
    docker_detail: str | None
    nginx: str | None


def detect_host(docker_host: str | None = None) -> HostFacts:
    """`docker_host`: the Engine deployd uses (a unix:// URL; default the usual socket)."""
    docker_ok, docker_detail = _docker_engine(_unix_path(docker_host))
    return HostFacts(
        hostname=socket.gethostname(),
        os=_os_name(),
        kernel=platform.release(),
        python=platform.python_version(),
        cpus=os.cpu_count() or 1,
        memory_bytes=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        root=os.geteuid() == 0,
        systemd=Path("/run/systemd/system").is_dir(),
        docker=docker_ok,
        docker_detail=docker_detail,
        nginx=_nginx_version(),
    )


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    except OSError:
        return platform.system()


def _nginx_version() -> str | None:
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if binary is None:
        return None
    try:
        out = subprocess.run(
            [binary, "-v"], capture_output=True, text=True, timeout=5, check=False
        ).stderr.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.removeprefix("nginx version: ") or binary


def _unix_path(url: str | None) -> str:
    url = url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return url.removeprefix("unix://")


def _docker_engine(path: str = "/var/run/docker.sock") -> tuple[bool, str | None]:
    """Ping the Engine API; the client binary alone says nothing about a running engine."""
    if not Path(path).exists():
        return False, "no docker engine socket at " + path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1.0)
            conn.connect(path)
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = conn.recv(4096)
    except OSError as exc:
        return False, f"docker engine not answering: {exc.strerror or exc}"
    if reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]:
        return True, None
    return False, "docker engine answered unexpectedly"
