"""Domains and TLS through `deployctl`: real nginx, real certbot, a real ACME server
(pebble on loopback, with pebble-challtestsrv answering DNS)."""

from __future__ import annotations

import grp
import http.client
import itertools
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployd.domain.accounts import nginx_account, prefix_for
from deployd.store.cluster import PrivateCluster
from tests.e2e.conftest import fetch
from tests.support.acme import CHALLTESTSRV, PEBBLE, Pebble, pebble
from tests.support.daemon import BIN, RunningDaemon, free_port, serve, world_readable_tempdir
from tests.support.load import hammering
from tests.support.repos import EXAMPLE
from tests.support.waiting import wait_for

# CI installs them and sets DEPLOYD_TEST_REQUIRE_ALL: there, their absence is a failure
pytestmark = pytest.mark.skipif(
    not (PEBBLE and CHALLTESTSRV and shutil.which("certbot"))
    and not os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"),
    reason="needs pebble and certbot (apt-get install pebble certbot)",
)
_names = itertools.count(1)


def ok(result: object) -> object:
    assert getattr(result, "returncode", 1) == 0, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    return result


@pytest.fixture(scope="module")
def acme_db(pg_cluster: PrivateCluster) -> Iterator[str]:
    pg_cluster.ensure_database("e2e_domains")
    yield pg_cluster.conninfo("e2e_domains")
    pg_cluster.drop_database("e2e_domains")


def settings(acme: Pebble, http_port: int, **extra: str) -> dict[str, str]:
    return {
        "DEPLOYD_HTTP_PORT": str(http_port),
        "DEPLOYD_HTTPS_PORT": str(free_port()),
        "DEPLOYD_ACME_DIRECTORY": acme.directory,
        "DEPLOYD_ACME_CA_BUNDLE": str(acme.ca_bundle),
        "DEPLOYD_ACME_EMAIL": "ops@example.com",
        "DEPLOYD_DNS_SERVERS": acme.dns_server,
        "DEPLOYD_PUBLIC_ADDRESSES": "127.0.0.1",
        **extra,
    }


@pytest.fixture(scope="module")
def tls(acme_db: str) -> Iterator[tuple[RunningDaemon, Pebble]]:
    """A daemon whose nginx port is the port pebble validates http-01 on."""
    http_port = free_port()
    with pebble(http_port) as acme, serve(acme_db, settings(acme, http_port)) as daemon:
        yield daemon, acme


@pytest.fixture
def app(tls: tuple[RunningDaemon, Pebble]) -> Iterator[str]:
    daemon, _ = tls
    base = world_readable_tempdir("deployd-site-")
    shutil.copytree(EXAMPLE, base / "app")
    name = f"site{next(_names)}"
    ok(daemon.deployctl("apps", "create", name, "--path", str(base / "app")))
    ok(daemon.deployctl("deploy", name))
    yield name
    daemon.deployctl("apps", "delete", name, "--yes")
    shutil.rmtree(base, ignore_errors=True)


def https_get(
    port: int, host: str, cafile: Path, path: str = "/"
) -> tuple[int, dict[str, str], str, int]:
    """GET https://host:port/path from 127.0.0.1, SNI and verification for `host`:
    (status, headers, body, serial of the certificate served)."""
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as conn,
    ):
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        conn.sendall(request.encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        cert = conn.getpeercert()
        assert cert is not None
        serial = int(str(cert["serialNumber"]), 16)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body.decode(errors="replace"), serial


def https_post(port: int, host: str, cafile: Path, path: str, body: bytes) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as conn,
    ):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nX-GitHub-Event: push\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        conn.sendall(head.encode() + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode()


def https_port(daemon: RunningDaemon) -> int:
    return int(daemon.env["DEPLOYD_HTTPS_PORT"])


def domains(daemon: RunningDaemon, app: str) -> list[dict[str, object]]:
    listed = json.loads(ok(daemon.deployctl("domains", "list", app, "--json")).stdout)  # type: ignore[attr-defined]
    found: list[dict[str, object]] = listed["domains"]
    return found


def test_attach_with_tls_serves_https_and_redirects_http(
    tls: tuple[RunningDaemon, Pebble], app: str
) -> None:
    daemon, acme = tls
    domain = f"{app}.example.test"
    started = time.monotonic()
    ok(daemon.deployctl("domains", "attach", app, domain, "--tls", "--hsts"))
    took = time.monotonic() - started
    status, headers, body, _ = https_get(https_port(daemon), domain, acme.roots())
    assert status == 200 and json.loads(body)["app"] == app
    pem = (daemon.root / "data" / "tls" / f"{domain}.pem").stat()  # chain and private key
    assert stat.S_IMODE(pem.st_mode) == 0o640 and pem.st_uid == os.geteuid()
    if os.geteuid() == 0:  # readable by nginx's workers' own group, which no app is in
        workers = grp.getgrgid(pem.st_gid)
        assert workers.gr_name == nginx_account(prefix_for(str(daemon.root)))
        assert workers.gr_mem == []
    assert headers["x-deployd-release"] and headers["strict-transport-security"].startswith(
        "max-age="
    )
    assert headers["x-content-type-options"] == "nosniff"
    plain, plain_headers, _ = fetch_host(daemon, domain)
    assert plain == 308
    assert plain_headers["location"] == f"https://{domain}:{https_port(daemon)}/"
    [info] = domains(daemon, app)
    assert info["tls"] and info["redirect"] and info["dns_ok"]
    assert "Pebble" in str(info["issuer"]) and info["not_after"]
    assert took < 60
    # the app's own name still answers over plain HTTP
    assert fetch(daemon, app)[0] == 200


def fetch_host(daemon: RunningDaemon, host: str) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": host})
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "bad", ["a..b", "-x.com", "x" * 300 + ".com", "ex\u0430mple.com", "$(id).com", "x.com;"]
)
def test_bad_domains_are_refused_and_change_nothing(
    tls: tuple[RunningDaemon, Pebble], app: str, bad: str
) -> None:
    daemon, _ = tls
    result = daemon.deployctl("domains", "attach", "--tls", app, "--", bad)
    assert result.returncode == 2 and "invalid domain" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert domains(daemon, app) == [] and fetch(daemon, app)[0] == 200
    audit = ok(daemon.deployctl("audit", "--json", "--limit", "5")).stdout  # type: ignore[attr-defined]
    assert '"domains.attach"' in audit and '"invalid"' in audit


def test_dns_pointing_elsewhere_is_refused_and_recorded(
    tls: tuple[RunningDaemon, Pebble], app: str
) -> None:
    daemon, acme = tls
    domain = f"{app}.elsewhere.test"
    acme.set_a(domain, ["203.0.113.7"])
    result = daemon.deployctl("domains", "attach", app, domain, "--tls")
    assert result.returncode == 1
    assert "203.0.113.7" in result.stderr and "not this host" in result.stderr
    assert domains(daemon, app) == [] and fetch(daemon, app)[0] == 200
    events = ok(daemon.deployctl("events", "--app", app, "--kind", "domain", "--json")).stdout  # type: ignore[attr-defined]
    assert "domain.refused" in events

    acme.clear_a(domain)  # now it points here (challtestsrv's default): attach, then break it
    ok(daemon.deployctl("domains", "attach", app, domain))
    acme.set_a(domain, ["203.0.113.7"])
    verify = daemon.deployctl("domains", "verify", app, domain)
    assert verify.returncode == 1 and "203.0.113.7" in verify.stderr
    [info] = domains(daemon, app)
    assert info["dns_ok"] is False and "203.0.113.7" in str(info["dns_detail"])
    ok(daemon.deployctl("domains", "detach", app, domain))
    assert domains(daemon, app) == []
    with pytest.raises(http.client.RemoteDisconnected):  # the default server closes it
        fetch_host(daemon, domain)


def test_a_domain_belongs_to_one_app(tls: tuple[RunningDaemon, Pebble], app: str) -> None:
    daemon, _ = tls
    domain = f"{app}.shared.test"
    ok(daemon.deployctl("domains", "attach", app, domain))
    assert fetch_host(daemon, domain)[0] == 200
    ok(daemon.deployctl("apps", "create", f"{app}-b", "--path", str(EXAMPLE)))
    try:
        taken = daemon.deployctl("domains", "attach", f"{app}-b", domain)
        assert taken.returncode == 1 and f"attached to {app}" in taken.stderr
    finally:
        daemon.deployctl("apps", "delete", f"{app}-b", "--yes")


def test_an_acme_server_that_refuses_changes_nothing(fresh_db: str, workdir: Path) -> None:
    http_port = free_port()
    with (
        pebble(http_port, refuse=True) as acme,
        serve(fresh_db, settings(acme, http_port)) as daemon,
    ):
        shutil.copytree(EXAMPLE, workdir / "app")
        ok(daemon.deployctl("apps", "create", "refused", "--path", str(workdir / "app")))
        ok(daemon.deployctl("deploy", "refused"))
        result = daemon.deployctl("domains", "attach", "refused", "refused.example.test", "--tls")
        assert result.returncode == 1 and "could not be issued" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert domains(daemon, "refused") == [] and fetch(daemon, "refused")[0] == 200
        ok(daemon.deployctl("apps", "delete", "refused", "--yes"))


def test_renewal_serves_the_new_certificate_without_a_failed_request(
    fresh_db: str, workdir: Path
) -> None:
    """With a threshold longer than pebble's certificates live, every check renews."""
    http_port = free_port()
    extra = {"DEPLOYD_ACME_RENEW_DAYS": "3650", "DEPLOYD_ACME_CHECK_INTERVAL": "2"}
    with pebble(http_port) as acme, serve(fresh_db, settings(acme, http_port, **extra)) as daemon:
        shutil.copytree(EXAMPLE, workdir / "app")
        ok(daemon.deployctl("apps", "create", "renewed", "--path", str(workdir / "app")))
        ok(daemon.deployctl("deploy", "renewed"))
        domain = "renewed.example.test"
        ok(daemon.deployctl("domains", "attach", "renewed", domain, "--tls"))
        roots = acme.roots()
        first = https_get(https_port(daemon), domain, roots)[3]
        serials: set[int] = set()

        def request() -> int:  # a new connection each time: a full handshake
            status, _, _, serial = https_get(https_port(daemon), domain, roots)
            serials.add(serial)
            return status

        with hammering(request) as tally:
            wait_for(lambda: len(serials - {first}) >= 2, timeout=60)
        assert tally.failures == [] and tally.served > 0
        events = ok(
            daemon.deployctl("events", "--app", "renewed", "--kind", "cert", "--json")
        ).stdout  # type: ignore[attr-defined]
        assert "cert.renewed" in events
        keys = workdir / "keys"  # the next daemon reads this database: it needs its keys
        keys.mkdir()
        for name in ("secret.key", "audit.key"):
            shutil.copy2(daemon.root / name, keys / name)

    # the ACME server is gone now: a renewal fails, is shown, and backs off
    extra["DEPLOYD_SECRET_KEY_FILE"] = str(keys / "secret.key")
    with serve(fresh_db, settings(acme, http_port, **extra)) as daemon:

        def failed() -> bool:
            status = json.loads(daemon.deployctl("status", "--json").stdout)
            return bool(status["certificate_problems"])

        wait_for(failed, timeout=60)
        time.sleep(5)  # two more checks: none tries again (back-off: hours)
        problems = json.loads(daemon.deployctl("status", "--json").stdout)["certificate_problems"]
        assert problems[0]["domain"] == domain and problems[0]["failures"] == 1
        listed = domains(daemon, "renewed")[0]
        assert listed["last_error"] and listed["next_attempt_at"]
        ok(daemon.deployctl("apps", "delete", "renewed", "--yes"))


def test_deployds_own_name_gets_a_certificate_and_reaches_deployd_web(fresh_db: str) -> None:
    """DEPLOYD_CONTROL_DOMAIN: issued at start, served over HTTPS, plain HTTP redirected,
    and GitHub's webhook path proxied to `deployd web`, which asks the daemon."""
    http_port, web_port, control = free_port(), free_port(), "deployd.example.test"
    extra = {"DEPLOYD_CONTROL_DOMAIN": control, "DEPLOYD_WEB_PORT": str(web_port)}
    with (
        pebble(http_port) as acme,
        serve(fresh_db, settings(acme, http_port, **extra)) as daemon,
    ):
        web = subprocess.Popen(
            [str(BIN / "deployd"), "web", "--port", str(web_port), "--socket", str(daemon.socket)],
            env=daemon.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            events: list[str] = []

            def issued() -> bool:
                listed = json.loads(ok(daemon.deployctl("events", "--json")).stdout)  # type: ignore[attr-defined]
                events[:] = [e["message"] for e in listed["events"] if control in e["message"]]
                return bool(events)

            wait_for(issued, timeout=60)
            assert "has a certificate until" in events[0], events
            roots = acme.roots()
            wait_for(lambda: https_get(https_port(daemon), control, roots, "/healthz")[0] == 200)
            body = https_get(https_port(daemon), control, roots, "/healthz")[2]
            assert json.loads(body)["daemon_answers"] is True, body
            hooked = https_post(https_port(daemon), control, roots, "/hooks/github", b"[]")
            assert hooked[0] == 401 and "no connected app's secret" in hooked[1], hooked
            plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
            plain.request("POST", "/hooks/github", body=b"{}", headers={"Host": control})
            redirected = plain.getresponse()
            assert redirected.status == 308
            assert redirected.getheader("location") == (
                f"https://{control}:{https_port(daemon)}/hooks/github"
            )
        finally:
            web.terminate()
            web.wait(10)


def test_a_refused_certificate_for_deployds_own_name_is_said_and_tried_again_soon(
    fresh_db: str,
) -> None:
    http_port, control = free_port(), "deployd.example.test"
    with (
        pebble(http_port, refuse=True) as acme,
        serve(fresh_db, settings(acme, http_port, DEPLOYD_CONTROL_DOMAIN=control)) as daemon,
    ):

        def said() -> list[str]:
            listed = json.loads(ok(daemon.deployctl("events", "--json")).stdout)  # type: ignore[attr-defined]
            return [e["message"] for e in listed["events"] if control in e["message"]]

        (message,) = wait_for(said, timeout=60)
        assert "could not be issued" in message and "tried again in 10 minutes" in message
        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("GET", "/healthz", headers={"Host": control})
        assert plain.getresponse().status == 502  # served over HTTP meanwhile (no web here)
