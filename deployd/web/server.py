"""Run the app under uvicorn: the process `deployd web` is.

uvicorn's own access log is off (a hook's line is written by `hooks.py`, with no body and
no signature); X-Forwarded-For and -Proto are believed only from loopback, where nginx
sits when the receiver is exposed through a domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import uvicorn

from .app import create_app
from .guard import STREAM_SECONDS
from .headers import SecurityHeaders
from .link import DaemonLink

TRUSTED_PROXIES = "127.0.0.1,::1"


@dataclass(frozen=True, slots=True)
class WebConfig:
    listen: str
    port: int
    socket: Path
    stream_seconds: float = STREAM_SECONDS


def uvicorn_config(config: WebConfig, link: DaemonLink | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        # outside Starlette's own error middleware too, so a 500 carries the headers
        SecurityHeaders(
            create_app(link or DaemonLink(config.socket), stream_seconds=config.stream_seconds)
        ),
        host=config.listen,
        port=config.port,
        proxy_headers=True,
        forwarded_allow_ips=TRUSTED_PROXIES,
        access_log=False,
        server_header=False,
        log_config=None,  # deployd's logging, set up by the command line
        lifespan="on",
        http="h11",
        loop="asyncio",
        timeout_graceful_shutdown=5,
    )


def serve(config: WebConfig) -> None:
    """Until SIGINT or SIGTERM (uvicorn's handlers: finish what is in flight, then stop)."""
    uvicorn.Server(uvicorn_config(config)).run()
