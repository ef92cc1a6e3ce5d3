"""`deployd web` receiving GitHub's webhooks: the real process under uvicorn, on loopback,
in front of the canned daemon (which answers `github.receive` and records what it got)."""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from deployd.protocol.github import (
    HOOK_PATH,
    MAX_HOOK_BODY_BYTES,
    HookDeliveryResult,
    HookVerdict,
)
from tests.support.canned_daemon import CannedDaemon, canned_daemon
from tests.support.daemon import BIN, free_port, world_readable_tempdir
from tests.support.waiting import wait_for

SIGNATURE = "sha256=" + "5e" * 32
BODY = b'{"ref":"refs/heads/main","after":"1234567"}\r\n\x00\xff\xfe raw \xe2\x82 bytes'


@dataclass
class Web:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_web(socket_path: Path, directory: Path) -> Web:
    port = free_port()
    log = directory / f"web-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYD_")}
    env["DEPLOYD_CONFIG"] = str(directory / "no-such.toml")  # not the host's config
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "deployd"), "web", "--port", str(port), "--socket", str(socket_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    web = Web(port, process, log)

    def serving() -> bool:
        assert process.poll() is None, web.output()
        return httpx.get(f"{web.url}/healthz", timeout=2).status_code == 200

    wait_for(serving, timeout=30)
    return web


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CannedDaemon]:
    with canned_daemon(tmp_path_factory.mktemp("daemon")) as running:
        yield running


@pytest.fixture(scope="module")
def web(daemon: CannedDaemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    running = start_web(daemon.path, tmp_path_factory.mktemp("web"))
    yield running
    running.process.terminate()
    running.process.wait(10)
    print(f"--- deployd web's log ---\n{running.output()}")


@pytest.fixture
def answer(daemon: CannedDaemon) -> Iterator[dict[str, object]]:
    """The daemon's answer to `github.receive`, to change for one test."""
    canned = dict(daemon.answers["github.receive"])
    yield daemon.answers["github.receive"]
    daemon.answers["github.receive"] = canned


def hook_headers(**extra: str) -> dict[str, str]:
    return {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": SIGNATURE,
        "X-GitHub-Hook-ID": "292430182",
        "Content-Type": "application/json",
        **extra,
    }


def received(daemon: CannedDaemon) -> dict[str, object]:
    assert daemon.calls[-1] == "github.receive"
    return daemon.params[-1]


def raw_request(port: int, head: bytes, body_parts: Iterable[bytes] = ()) -> bytes:
    """Send a request as bytes (headers, then as much body as given) and read the answer
    until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head)
        for part in body_parts:
            conn.sendall(part)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_headers_and_the_exact_body_reach_the_daemon(daemon: CannedDaemon, web: Web) -> None:
    long_event = "push" + "x" * 300
    reply = httpx.post(
        web.url + HOOK_PATH,
        content=BODY,
        headers=hook_headers(**{"X-GitHub-Event": long_event}),
    )
    assert reply.status_code == 202
    assert reply.json() == {
        "verdict": "deployed",
        "reason": "push to main of acme/shop: deploying 1234567 as job 43",
        "job": 43,
    }
    params = received(daemon)
    assert base64.b64decode(str(params["body"]), validate=True) == BODY
    assert params["event"] == long_event[:100]  # cut to the protocol's length, not refused
    assert params["delivery"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert params["signature"] == SIGNATURE
    assert params["hook_id"] == "292430182"
    assert "too_large" not in params


def test_a_hook_without_headers_or_body_still_reaches_the_daemon(
    daemon: CannedDaemon, web: Web
) -> None:
    reply = httpx.post(web.url + HOOK_PATH)
    assert reply.status_code == 202
    params = received(daemon)
    assert params["body"] == "" and params["signature"] == "" and params["event"] == ""


@pytest.mark.parametrize(
    ("status", "verdict", "reason"),
    [
        (401, HookVerdict.REJECTED, "bad signature: X-Hub-Signature-256 does not match"),
        (200, HookVerdict.IGNORED, "a push to the branch feature, not main"),
        (200, HookVerdict.DUPLICATE, "delivery 72d3162e was received before"),
    ],
)
def test_the_daemons_status_and_verdict_come_back(
    web: Web, answer: dict[str, object], status: int, verdict: HookVerdict, reason: str
) -> None:
    answer.update(
        HookDeliveryResult(status=status, verdict=verdict, reason=reason).model_dump(mode="json")
    )
    reply = httpx.post(web.url + HOOK_PATH, content=BODY, headers=hook_headers())
    assert reply.status_code == status
    assert reply.json() == {"verdict": verdict.value, "reason": reason, "job": None}


def test_a_declared_30mb_body_is_refused_before_it_is_sent(daemon: CannedDaemon, web: Web) -> None:
    size = 30 * 1024 * 1024
    head = (
        f"POST {HOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {size}\r\n"
        f"X-GitHub-Event: push\r\nX-GitHub-Delivery: big-one\r\n"
        f"X-Hub-Signature-256: {SIGNATURE}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    answer = raw_request(web.port, head)  # not one byte of the body is sent
    elapsed = time.monotonic() - started
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large", answer[:200]
    head_part, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in head_part.lower()
    assert json.loads(body)["verdict"] == "deployed"  # the canned daemon's word, recorded
    params = received(daemon)
    assert params["too_large"] == size and params["body"] == ""
    assert params["delivery"] == "big-one" and params["signature"] == SIGNATURE
    assert elapsed < 5, elapsed  # a bound on a hang, not a timing claim


def test_a_chunked_body_is_cut_off_once_past_the_limit(daemon: CannedDaemon, web: Web) -> None:
    head = (
        f"POST {HOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        "X-GitHub-Event: push\r\nX-GitHub-Delivery: chunked-one\r\n\r\n"
    ).encode()
    step = 1024 * 1024
    chunk = f"{step:x}\r\n".encode() + b"a" * step + b"\r\n"

    def parts() -> Iterator[bytes]:  # one byte past the limit, and no last chunk
        for _ in range(MAX_HOOK_BODY_BYTES // step):
            yield chunk
        yield b"1\r\na\r\n"

    answer = raw_request(web.port, head, parts())
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    params = received(daemon)
    assert params["too_large"] == MAX_HOOK_BODY_BYTES + 1 and params["body"] == ""
    assert params["delivery"] == "chunked-one"


def test_a_chunked_body_within_the_limit_arrives_whole(daemon: CannedDaemon, web: Web) -> None:
    def chunks() -> Iterator[bytes]:
        yield BODY[:7]
        yield BODY[7:]

    reply = httpx.post(web.url + HOOK_PATH, content=chunks(), headers=hook_headers())
    assert reply.status_code == 202
    assert base64.b64decode(str(received(daemon)["body"])) == BODY


def test_forty_hooks_at_once_are_all_answered(daemon: CannedDaemon, web: Web) -> None:
    def post(n: int) -> int:
        headers = hook_headers(**{"X-GitHub-Delivery": f"at-once-{n}"})
        return client.post(HOOK_PATH, content=BODY, headers=headers).status_code

    with httpx.Client(base_url=web.url) as client, ThreadPoolExecutor(8) as pool:
        assert set(pool.map(post, range(40))) == {202}
    deliveries = {p.get("delivery") for p in daemon.params}
    assert {f"at-once-{n}" for n in range(40)} <= deliveries


def test_daemon_down_is_503_and_the_next_hook_after_it_is_back_goes_through(
    daemon: CannedDaemon, web: Web
) -> None:
    daemon.drop()
    try:
        reply = httpx.post(web.url + HOOK_PATH, content=BODY, headers=hook_headers())
        assert reply.status_code == 503
        assert reply.json()["verdict"] is None
        assert "not reachable" in reply.json()["reason"]
        health = httpx.get(web.url + "/healthz")
        assert health.status_code == 200 and health.json()["daemon_answers"] is False
    finally:
        daemon.back()
    reply = httpx.post(web.url + HOOK_PATH, content=BODY, headers=hook_headers())
    assert reply.status_code == 202
    assert base64.b64decode(str(received(daemon)["body"])) == BODY


def test_a_refusal_by_the_daemon_is_502_with_its_reason(daemon: CannedDaemon, web: Web) -> None:
    kept = daemon.answers.pop("github.receive")  # an older daemon: no such method
    try:
        reply = httpx.post(web.url + HOOK_PATH, content=BODY, headers=hook_headers())
    finally:
        daemon.answers["github.receive"] = kept
    assert reply.status_code == 502
    assert reply.json() == {
        "verdict": None,
        "reason": "deployd refused the delivery: no github.receive here",
        "job": None,
    }


def test_healthz_says_whether_the_daemon_answers(web: Web) -> None:
    reply = httpx.get(web.url + "/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"web": "ok", "daemon_answers": True}  # never its version: public


def test_other_paths_and_methods_answer_json(web: Web) -> None:
    missing = httpx.get(web.url + "/hooks/gitlab")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
    wrong = httpx.get(web.url + HOOK_PATH)
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}


def test_the_log_names_deliveries_but_never_bodies_or_signatures(web: Web) -> None:
    httpx.post(web.url + HOOK_PATH, content=BODY, headers=hook_headers())
    output = web.output()
    assert "72d3162e-cc78-11e3-81ab-4c9367dc0958" in output and "202 deployed" in output
    assert SIGNATURE not in output and "5e5e5e" not in output
    assert "refs/heads/main" not in output and base64.b64encode(BODY).decode() not in output


def nobody_can_run_deployd() -> bool:
    if os.geteuid() != 0:
        return False
    nobody = pwd.getpwnam("nobody")
    probe = subprocess.run(
        [str(BIN / "deployd"), "--version"], user=nobody.pw_uid, group=nobody.pw_gid,
        extra_groups=[], capture_output=True, cwd="/", check=False,
    )  # fmt: skip
    return probe.returncode == 0


@pytest.mark.skipif(not nobody_can_run_deployd(), reason="needs root, and a venv nobody can run")
def test_an_account_that_cannot_read_the_config_file_takes_the_environments_settings(
    daemon: CannedDaemon,
) -> None:
    """As under units/deployd-web.service: an account of its own, the config file root's."""
    base = world_readable_tempdir("deployd-webcfg-")
    config = base / "deployd.toml"
    config.write_text("web_port = 1\n")  # unusable if it were read
    config.chmod(0o600)
    port = free_port()
    log = base / "web.log"
    nobody = pwd.getpwnam("nobody")
    env = {"PATH": "/usr/bin:/bin", "DEPLOYD_CONFIG": str(config), "DEPLOYD_WEB_PORT": str(port)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "deployd"), "web", "--socket", str(daemon.path)],
            user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd="/",
        )  # fmt: skip
    try:
        health = wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").json())
        assert health["web"] == "ok"
        assert f"{config} is not readable by this account" in log.read_text()
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(base, ignore_errors=True)
