"""The root daemon against hostile deployers and hostile apps (issue 10's findings).

Each test does what an attacker did: a Procfile that is a symlink to a secret, a build
that plants symlinks for root to write through, one app reading, writing and signalling
another, an app planting FIFOs for the daemon to block on, a deployer naming a directory
only root may read, sources far over the limits, a domain under another app's address.
They run as root (CI does), so the per-app accounts are real Unix accounts.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from deployd.domain.accounts import app_account, nginx_account, prefix_for
from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.support.daemon import RunningDaemon, serve, world_readable_tempdir
from tests.support.repos import Repo
from tests.support.unix_users import relay_as, unix_user
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and not os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"),
    reason="account separation needs a daemon running as root (CI runs as root)",
)

APPS = Path(__file__).resolve().parents[1] / "support" / "apps"
TOKEN = "sk_live_pr1vsep4r4t10nT0k3n"
MAX_FILE = 10 * 1024 * 1024
MAX_SOURCE = 32 * 1024 * 1024
MAX_BUILD_LOG = 64 * 1024
_names = itertools.count(1)


@pytest.fixture(scope="module")
def daemon(pg_cluster: PrivateCluster) -> Iterator[RunningDaemon]:
    """A root daemon with small limits (10 MiB a file, 32 MiB a source, 64 KiB of build
    output)."""
    pg_cluster.ensure_database("privileges")
    try:
        with serve(
            pg_cluster.conninfo("privileges"),
            {
                "DEPLOYD_MAX_FILE_SIZE": str(MAX_FILE),
                "DEPLOYD_MAX_SOURCE_SIZE": str(MAX_SOURCE),
                "DEPLOYD_MAX_BUILD_LOG": str(MAX_BUILD_LOG),
            },
        ) as running:
            yield running
    finally:
        pg_cluster.drop_database("privileges")


@pytest.fixture
def base() -> Iterator[Path]:
    path = world_readable_tempdir("deployd-priv-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def copy_app(base: Path, app: str) -> Path:
    source = base / f"{app}-{next(_names)}"
    shutil.copytree(APPS / app, source)
    return source


def path_app(daemon: RunningDaemon, source: Path, name: str | None = None) -> str:
    name = name or f"p{next(_names)}"
    ok(daemon.deployctl("apps", "create", name, "--path", str(source)))
    return name


def show(daemon: RunningDaemon, app: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(ok(daemon.deployctl("apps", "show", app, "--json")).stdout)
    return info


def releases(daemon: RunningDaemon, app: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        ok(daemon.deployctl("releases", app, "--json")).stdout
    )["releases"]
    return found


def everything_said(daemon: RunningDaemon, app: str) -> str:
    """What any viewer can read about an app: its releases, events and logs."""
    events = daemon.deployctl("events", "--app", app, "--limit", "1000", "--json").stdout
    logs = daemon.deployctl("logs", app, "--json").stdout
    return daemon.deployctl("releases", app, "--json").stdout + events + logs


def attack(daemon: RunningDaemon, app: str, *ops: dict[str, Any]) -> list[dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=10)
    try:
        body = json.dumps(list(ops))
        conn.request(
            "POST",
            "/attack",
            body=body,
            headers={"Host": f"{app}.localhost", "Content-Type": "application/json"},
        )
        reply = conn.getresponse()
        assert reply.status == 200
        outcome: list[dict[str, Any]] = json.loads(reply.read())
        return outcome
    finally:
        conn.close()


def whoami(daemon: RunningDaemon, app: str) -> dict[str, Any]:
    status, _, body = fetch(daemon, app)
    assert status == 200, body
    info: dict[str, Any] = json.loads(body)
    return info


def account_of(daemon: RunningDaemon, app: str) -> pwd.struct_passwd:
    return pwd.getpwnam(app_account(app, prefix_for(str(daemon.root))))


# -- 1. root reads through symlinks -------------------------------------------------------


@pytest.mark.parametrize("target", ["secret.key", "/proc/self/environ"])
def test_a_procfile_that_links_to_a_secret_is_refused_unread(
    daemon: RunningDaemon, base: Path, target: str
) -> None:
    secret = daemon.root / "secret.key"
    repo = Repo(base, "linked")
    (repo.work / "Procfile").unlink()
    (repo.work / "Procfile").symlink_to(secret if target == "secret.key" else target)
    repo.commit("a Procfile that points at a secret")
    name = f"lnk{next(_names)}"
    ok(daemon.deployctl("apps", "create", name, "--git", repo.url))
    failed = daemon.deployctl("deploy", name)
    assert failed.returncode == 1
    assert "Procfile is a link to" in failed.stderr and "reads only a regular file" in failed.stderr
    said = everything_said(daemon, name) + failed.stdout + failed.stderr
    for line in secret.read_text().split():
        assert line not in said
    assert "DEPLOYD_DATABASE_URL" not in said and "PATH=" not in said


def test_a_huge_bad_procfile_line_is_quoted_short(daemon: RunningDaemon, base: Path) -> None:
    source = copy_app(base, "hostile")
    (source / "Procfile").write_text("web: python3 app.py\n" + "x" * 200_000 + "\n")
    name = path_app(daemon, source)
    failed = daemon.deployctl("deploy", name)
    assert failed.returncode == 1 and "Procfile line 2: expected `name: command`" in failed.stderr
    stored = releases(daemon, name)[0]["error"]
    assert len(stored) < 300 and "xxx…" in stored
    assert len(everything_said(daemon, name)) < 50_000
    (source / "Procfile").write_text("web: python3 app.py\n" + "x" * 1_000_000 + "\n")
    failed = daemon.deployctl("deploy", name)
    assert failed.returncode == 1
    assert "Procfile is 976.6 KiB: deployd reads such a file only up to 256.0 KiB" in failed.stderr


# -- 2. root writes through symlinks ------------------------------------------------------


def test_symlinks_a_build_plants_never_make_root_write(daemon: RunningDaemon, base: Path) -> None:
    victim = base / "victim"
    victim.write_text("root's file\n")
    victim.chmod(0o644)
    source = copy_app(base, "hostile")
    (source / ".deployd-build.json").symlink_to(victim)  # a --path source holds one too
    (source / "deployd.toml").write_text(
        (source / "deployd.toml").read_text()
        + "\n[build]\n"
        + f'command = "ln -sf {victim} planted.json; ln -sf {victim} ../evil.json || true; '
        + 'touch ../evil || true; id -u > built-by"\n'
    )
    name = path_app(daemon, source)
    ok(daemon.deployctl("deploy", name))
    assert victim.read_text() == "root's file\n" and victim.stat().st_uid == 0
    builds = daemon.root / "data" / "apps" / name / "builds"
    assert not (builds / "evil").exists() and not (builds / "evil.json").exists()
    artifact = next(p for p in builds.iterdir() if p.is_dir())
    assert int((artifact / "built-by").read_text()) == account_of(daemon, name).pw_uid
    ok(daemon.deployctl("deploy", name))  # a cached build: still nothing written through
    assert victim.read_text() == "root's file\n"


# -- 3. no isolation between apps ---------------------------------------------------------


def test_apps_cannot_read_write_or_signal_each_other(daemon: RunningDaemon, base: Path) -> None:
    victim = path_app(daemon, copy_app(base, "envecho"))
    ok(daemon.deployctl("env", "set", victim, f"API_TOKEN={TOKEN}"))
    ok(daemon.deployctl("deploy", victim))
    attacker = path_app(daemon, copy_app(base, "hostile"))
    ok(daemon.deployctl("deploy", attacker))

    me, target_info = whoami(daemon, attacker), show(daemon, victim)
    target_uid = account_of(daemon, victim).pw_uid
    assert me["uid"] == account_of(daemon, attacker).pw_uid
    assert len({me["uid"], target_uid, 0, pwd.getpwnam("nobody").pw_uid}) == 4
    assert me["groups"] == [] or me["groups"] == [me["gid"]]
    live = target_info["live_slot"]
    app_dir = daemon.root / "data" / "apps" / victim
    pid = next(s["pid"] for s in target_info["slots"] if s["name"] == live)
    app_pid = psutil.Process(pid).children()[0].pid  # the launcher's child: the app itself
    artifact = next(p for p in (app_dir / "builds").iterdir() if p.is_dir())
    outcomes = attack(
        daemon,
        attacker,
        {"op": "read", "path": str(app_dir / f"{live}.web.1.env")},
        {"op": "list", "path": str(app_dir)},
        {"op": "read", "path": f"/proc/{app_pid}/environ"},
        {"op": "write", "path": str(artifact / "app.py")},
        {"op": "write", "path": str(artifact / "planted")},
        {"op": "signal", "pid": app_pid},
        {"op": "signal", "pid": pid},
        {"op": "read", "path": str(daemon.root / "secret.key")},
        {"op": "read", "path": str(daemon.root / "audit.key")},
        {"op": "read", "path": str(daemon.root / "logs" / "apps" / victim / "app.log")},
        {"op": "list", "path": str(daemon.root / "logs")},
        {"op": "read", "path": str(Path(me["cwd"]).parent.parent / "blue.web.1.env")},
        {"op": "read", "path": str(Path(me["cwd"]).parent.parent / "green.web.1.env")},
    )
    assert [o["ok"] for o in outcomes] == [False] * len(outcomes), outcomes
    assert TOKEN not in json.dumps(outcomes)
    assert psutil.pid_exists(app_pid)


def test_nginx_workers_run_as_an_account_of_their_own(daemon: RunningDaemon) -> None:
    master = int((daemon.root / "nginx" / "nginx.pid").read_text())
    workers = psutil.Process(master).children()
    assert workers
    expected = pwd.getpwnam(nginx_account(prefix_for(str(daemon.root)))).pw_uid
    assert {w.uids().real for w in workers} == {expected}


def test_what_the_daemon_keeps_is_not_world_readable(daemon: RunningDaemon, base: Path) -> None:
    name = path_app(daemon, copy_app(base, "hostile"))
    ok(daemon.deployctl("deploy", name))
    app_dir = daemon.root / "data" / "apps" / name
    group = account_of(daemon, name).pw_gid
    for path, mode in (
        (daemon.root / "data", 0o711),
        (app_dir, 0o710),
        (app_dir / "builds", 0o710),
        (app_dir / "tmp", 0o700),
        (daemon.root / "logs", 0o700),
        (daemon.root / "logs" / "apps" / name, 0o700),
        (daemon.root / "nginx" / "logs", 0o700),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert app_dir.stat().st_gid == group and (app_dir / "builds").stat().st_gid == group
    for log in (daemon.root / "logs" / "apps" / name).iterdir():
        assert stat.S_IMODE(log.stat().st_mode) & 0o007 == 0, log
        assert log.stat().st_uid == 0
    for marker in (app_dir / "builds").glob("*.json"):
        assert stat.S_IMODE(marker.stat().st_mode) == 0o600 and marker.stat().st_uid == 0


# -- 4. one app froze the whole daemon -----------------------------------------------------


def test_fifos_and_links_an_app_plants_never_block_the_daemon(
    daemon: RunningDaemon, base: Path
) -> None:
    name = path_app(daemon, copy_app(base, "hostile"))
    ok(daemon.deployctl("deploy", name))
    cwd = Path(whoami(daemon, name)["cwd"])
    planted = [
        {"op": "fifo", "path": str(cwd / n)}
        for n in (".deployd-build.json", "Procfile", "deployd.toml", "package.json", "app.json")
    ]
    planted.append({"op": "symlink", "path": str(cwd / "Dockerfile"), "to": "/etc/shadow"})
    assert all(o["ok"] for o in attack(daemon, name, *planted))
    started = time.monotonic()
    with daemon.client(timeout=10) as client:
        client.call("system.status")
    assert time.monotonic() - started < 5
    ok(daemon.deployctl("deploy", name))  # the cached build: the daemon read none of them
    ok(daemon.deployctl("rollback", name))
    with daemon.client(timeout=10) as client:
        client.call("system.status")


def test_a_fifo_in_a_path_source_is_refused(daemon: RunningDaemon, base: Path) -> None:
    source = copy_app(base, "hostile")
    os.mkfifo(source / "Procfile.pipe")
    name = path_app(daemon, source)
    failed = daemon.deployctl("deploy", name)
    assert failed.returncode == 1
    assert "Procfile.pipe' is a device, FIFO or socket" in failed.stderr


# -- 5 and 6. deployers read only what they may read --------------------------------------


def test_a_deployer_deploys_only_what_they_can_read(daemon: RunningDaemon, base: Path) -> None:
    private = base / "root-only"
    private.mkdir(mode=0o700)
    secret_repo = Repo(private, "secret")
    secret_dir = private / "hidden"
    shutil.copytree(APPS / "hostile", secret_dir)
    with unix_user() as alice:
        ok(
            daemon.deployctl(
                "users", "add", alice.pw_name, "--role", "deployer", "--unix-user", alice.pw_name
            )
        )
        with relay_as(alice, daemon.socket, base / "alice") as as_alice:

            def refused(*args: str) -> str:
                result = daemon.deployctl(
                    "apps", "create", f"a{next(_names)}", *args, socket=as_alice
                )
                assert result.returncode == 2, (result.stdout, result.stderr)
                return result.stderr.replace(str(private), "<P>").replace(alice.pw_name, "<U>")

            on_repo = refused("--git", secret_repo.url)
            on_missing = refused("--git", f"file://{private}/nothing.git")
            assert on_repo.replace("secret.git", "X") == on_missing.replace("nothing.git", "X")
            assert "cannot read a git repository" in on_repo
            assert refused("--path", str(secret_dir)).replace("hidden", "X") == refused(
                "--path", str(private / "missing")
            ).replace("missing", "X")

            shared = copy_app(base, "hostile")  # world-readable: alice may deploy it
            name = f"alice{next(_names)}"
            ok(daemon.deployctl("apps", "create", name, "--path", str(shared), socket=as_alice))
            (shared / "only-root").write_text("no\n")
            (shared / "only-root").chmod(0o600)
            failed = daemon.deployctl("deploy", name, socket=as_alice)
            assert failed.returncode == 1 and "Permission denied" in failed.stderr
            (shared / "only-root").unlink()
            ok(daemon.deployctl("deploy", name, socket=as_alice))
            events = daemon.deployctl("events", "--app", name, "--json").stdout
            assert f"copying {shared} as {alice.pw_name}" in events


def test_a_network_repository_is_fetched_by_the_apps_account(
    daemon: RunningDaemon, base: Path
) -> None:
    repo = Repo(base, "served")
    with _git_daemon(base) as port:
        name = f"net{next(_names)}"
        url = f"git://127.0.0.1:{port}/served.git"
        ok(daemon.deployctl("apps", "create", name, "--git", url))
        ok(daemon.deployctl("deploy", name))
        mirror = daemon.root / "data" / "apps" / name / "repo.git"
        assert mirror.stat().st_uid == account_of(daemon, name).pw_uid
        assert stat.S_IMODE(mirror.stat().st_mode) == 0o700
        repo.write("VERSION", "2\n").commit("two")
        ok(daemon.deployctl("deploy", name))
        assert releases(daemon, name)[0]["commit"] == repo.commit_sha

        big = Repo(base, "big")  # a pack over DEPLOYD_MAX_SOURCE_SIZE: refused while fetched
        for i in range(5):
            (big.work / f"noise{i}.bin").write_bytes(os.urandom(8 * 1024 * 1024))
        big.commit("40 MiB that does not compress")
        ok(daemon.deployctl("apps", "create", "netbig", "--git", f"git://127.0.0.1:{port}/big.git"))
        failed = daemon.deployctl("deploy", "netbig")
        assert failed.returncode == 1 and "the repository is larger than" in failed.stderr


class _git_daemon:
    def __init__(self, base: Path) -> None:
        self.base = base

    def __enter__(self) -> int:
        from tests.support.daemon import free_port

        self.port = free_port()
        self.process = subprocess.Popen(
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                f"--base-path={self.base}",
                "--export-all",
                str(self.base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # `git daemon` runs git-daemon as a child: stop both
        )
        wait_for(lambda: _listening(self.port), timeout=10)
        return self.port

    def __exit__(self, *exc: object) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


# -- 7. limits -----------------------------------------------------------------------------


def _daemon_rss(daemon: RunningDaemon) -> int:
    return int(psutil.Process(daemon.process.pid).memory_info().rss)


def test_a_huge_file_in_a_path_source_is_refused_at_its_header(
    daemon: RunningDaemon, base: Path
) -> None:
    source = copy_app(base, "hostile")
    with (source / "big.bin").open("wb") as fh:
        fh.truncate(1536 * 1024 * 1024)  # 1.5 GiB, sparse: cheap to make, not to read
    name = path_app(daemon, source)
    before = _daemon_rss(daemon)
    started = time.monotonic()
    failed = daemon.deployctl("deploy", name)
    assert failed.returncode == 1
    assert "'big.bin' is 1.5 GiB: files of a source may be at most 10.0 MiB" in failed.stderr
    assert time.monotonic() - started < 20
    assert _daemon_rss(daemon) - before < 30 * 1024 * 1024


def test_a_small_repository_holding_a_huge_file_is_refused(
    daemon: RunningDaemon, base: Path
) -> None:
    repo = Repo(base, "bomb")
    with (repo.work / "zeros.bin").open("wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # compresses to almost nothing in the pack
    repo.commit("a file far over the limit")
    name = f"bomb{next(_names)}"
    ok(daemon.deployctl("apps", "create", name, "--git", repo.url))
    before = _daemon_rss(daemon)
    failed = daemon.deployctl("deploy", name)
    assert failed.returncode == 1 and "'zeros.bin' is 64.0 MiB" in failed.stderr
    assert _daemon_rss(daemon) - before < 30 * 1024 * 1024


def test_a_source_over_the_total_limit_is_refused(daemon: RunningDaemon, base: Path) -> None:
    source = copy_app(base, "hostile")
    for i in range(5):
        (source / f"part{i}.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    name = path_app(daemon, source)
    failed = daemon.deployctl("deploy", name)
    assert failed.returncode == 1 and "the source is larger than 32.0 MiB" in failed.stderr
    assert not list((daemon.root / "data" / "apps" / name / "tmp").iterdir())


def test_a_build_that_floods_its_output_keeps_only_the_limit(
    daemon: RunningDaemon, base: Path
) -> None:
    source = copy_app(base, "hostile")
    (source / "deployd.toml").write_text(
        (source / "deployd.toml").read_text()
        + '\n[build]\ncommand = "yes flood | head -c 5000000; printf no-newline-%.0s $(seq 9000)"\n'
    )
    name = path_app(daemon, source)
    ok(daemon.deployctl("deploy", name))
    (build_log,) = (daemon.root / "logs" / "apps" / name).glob("build-*.log")
    kept = build_log.read_text()
    assert len(kept) < MAX_BUILD_LOG + 20_000
    assert kept.rstrip().endswith("is not kept (DEPLOYD_MAX_BUILD_LOG)]")


# -- 8. names under the base domain --------------------------------------------------------


def test_an_apps_address_belongs_to_it_before_it_exists(daemon: RunningDaemon, base: Path) -> None:
    squatter = path_app(daemon, copy_app(base, "hostile"))
    ok(daemon.deployctl("deploy", squatter))
    for domain in ("future.localhost", "www.future.localhost"):
        refused = daemon.deployctl("domains", "attach", squatter, domain, "--no-verify")
        assert refused.returncode == 1 and "the address of the app named future" in refused.stderr
    future = path_app(daemon, copy_app(base, "hostile"), "future")
    ok(daemon.deployctl("deploy", future))
    assert whoami(daemon, "future")["uid"] == account_of(daemon, future).pw_uid
    ok(daemon.deployctl("domains", "attach", future, "www.future.localhost", "--no-verify"))


def test_an_app_name_is_a_dns_label(daemon: RunningDaemon, base: Path) -> None:
    for bad in ("trailing-", "xn--abc", "ab--cd"):
        refused = daemon.deployctl("apps", "create", bad, "--path", str(base))
        assert refused.returncode == 2 and "not ending with a dash" in refused.stderr, bad


def test_a_253_character_domain_is_served(daemon: RunningDaemon, base: Path) -> None:
    name = path_app(daemon, copy_app(base, "hostile"))
    ok(daemon.deployctl("deploy", name))
    long = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 57, "com"])
    assert len(long) == 253
    ok(daemon.deployctl("domains", "attach", name, long, "--no-verify"))
    conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=10)
    conn.request("GET", "/", headers={"Host": long})
    assert conn.getresponse().status == 200
    conn.close()


# -- 10. bad input is an error, never a traceback -----------------------------------------


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"deployd.toml": "health = 5\n"}, "health must be a table"),
        ({"deployd.toml": "a = " + "[" * 50_000 + "]" * 50_000 + "\n"}, "nested too deeply"),
        ({"deployd.toml": "[build]\ncommand = 5\n"}, "build.command must be a non-empty string"),
        (
            {"package.json": "{not json", "deployd.toml": '[build]\nstack = "node"\n'},
            "package.json is not valid JSON",
        ),
        (
            {"package.json": "@link:/etc/passwd", "deployd.toml": '[build]\nstack = "node"\n'},
            "package.json is a link to '/etc/passwd'",
        ),
        ({"Procfile": "web: python3 app.py\n\x00\x01: x\n"}, "Procfile line 2"),
    ],
)
def test_a_bad_manifest_is_a_clear_error(
    daemon: RunningDaemon, base: Path, files: dict[str, str], message: str
) -> None:
    source = copy_app(base, "hostile")
    for name, content in files.items():
        (source / name).unlink(missing_ok=True)
        if content.startswith("@link:"):
            (source / name).symlink_to(content.removeprefix("@link:"))
        else:
            (source / name).write_text(content)
    app = path_app(daemon, source)
    failed = daemon.deployctl("deploy", app)
    assert failed.returncode == 1 and message in failed.stderr, failed.stderr
    assert "internal error" not in failed.stderr


# -- 13. deleting an app leaves nothing behind ---------------------------------------------


def test_deleting_an_app_stops_everything_and_says_no_crash(
    daemon: RunningDaemon, base: Path
) -> None:
    name = path_app(daemon, copy_app(base, "hostile"))
    ok(daemon.deployctl("deploy", name))
    account = account_of(daemon, name)
    ok(daemon.deployctl("apps", "delete", name, "--yes"))
    deleted = time.time()
    time.sleep(1.5)  # a crash watcher tick and a restart's back-off would both have run
    kinds = [
        e["kind"]
        for e in json.loads(
            ok(daemon.deployctl("events", "--app", name, "--limit", "500", "--json")).stdout
        )["events"]
    ]
    assert "app.crashed" not in kinds and kinds[-1] == "app.deleted"
    assert not (daemon.root / "data" / "apps" / name).exists()
    assert not (daemon.root / "logs" / "apps" / name).exists()
    left = [
        (p.info["cmdline"], p.info["cwd"], p.info["ppid"], p.info["create_time"] - deleted)
        for p in psutil.process_iter(["uids", "cmdline", "cwd", "ppid", "create_time"])
        if account.pw_uid in (p.info["uids"] or ())
    ]
    assert not left, left  # (command, cwd, parent, started seconds after the deletion)
    with pytest.raises(KeyError):
        pwd.getpwnam(account.pw_name)


# -- 14. an app's output cannot drive the operator's terminal -----------------------------


def test_logs_show_escape_sequences_instead_of_sending_them(
    daemon: RunningDaemon, base: Path
) -> None:
    name = path_app(daemon, copy_app(base, "hostile"))
    ok(daemon.deployctl("deploy", name))

    def logged() -> str | None:
        out = ok(daemon.deployctl("logs", name)).stdout
        return out if "started" in out else None

    shown = wait_for(logged)
    assert shown is not None
    assert "\x1b" not in shown and "\x07" not in shown
    assert "hostile: \\x1b[2J\\x1b]52;c;cHduZWQ=\\x07 started" in shown
    raw = json.loads(ok(daemon.deployctl("logs", name, "--json")).stdout)["lines"]
    assert any("\x1b]52;c;cHduZWQ=\x07" in line for line in raw)
