"""The app's own log lines of deployd's health probes are recognised, and nothing else."""

from __future__ import annotations

import os

import pytest

from deployd.domain.errors import DomainError
from deployd.domain.logline import probe_pattern
from deployd.domain.manifest import Manifest, parse_manifest
from deployd.runtime.launch import Output

PROBES = [
    '127.0.0.1 "GET /health HTTP/1.1" 200 -',  # http.server
    'INFO:     127.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK',  # uvicorn
    '127.0.0.1 - - [29/Nov/2026:11:50:39 +0000] "GET /health HTTP/1.0" 200 2 "-" "x"',  # gunicorn
    "GET /health 200 1.234 ms - 2",  # morgan dev
    'Started GET "/health" for 127.0.0.1 at 2026-11-29 11:50:39 +0000',  # Rails
    "HEAD /health?full=1 200",
]
OTHERS = [
    "GET /healthz 200",
    '"GET / HTTP/1.1" 200',
    "POST /health 200",
    "GET /health/deep 200",
    "the GET /health handler crashed",
]


@pytest.mark.parametrize("line", PROBES)
def test_probe_lines_in_the_usual_formats_are_recognised(line: str) -> None:
    assert probe_pattern("/health").search(line)


@pytest.mark.parametrize("line", OTHERS)
def test_other_lines_are_kept(line: str) -> None:
    assert not probe_pattern("/health").search(line)


def test_the_launcher_leaves_probe_lines_out_of_the_log() -> None:
    read, write = os.pipe()
    output = Output(write, tee=False, name="web.1", release=3, quiet_path="/health")
    output(("\n".join([PROBES[1], "GET /orders 200 3 ms", PROBES[3]]) + "\n").encode())
    os.close(write)
    written = os.read(read, 65536).decode()
    os.close(read)
    assert written.count("\n") == 1 and "web.1[v3]: GET /orders 200 3 ms" in written


def test_log_probes_is_a_setting_of_the_health_table() -> None:
    assert parse_manifest("web: x", None, "python").health.log_probes is False
    kept = parse_manifest("web: x", "[health]\nlog_probes = true\n", "python")
    assert kept.health.log_probes is True
    assert Manifest.from_json(kept.to_json()).health.log_probes is True
    with pytest.raises(DomainError, match="log_probes must be true or false"):
        parse_manifest("web: x", '[health]\nlog_probes = "yes"\n', "python")
