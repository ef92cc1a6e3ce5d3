"""The GitHub worker: carries on what webhook deliveries asked for (deploys, previews,
reports back to GitHub), woken by each delivery and every few seconds while a reported
deploy is under way; the reaper of forgotten previews runs with it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from deployd.engine import github_hooks, previews
from deployd.engine.platform import Platform

log = logging.getLogger(__name__)

PASS_SECONDS = 2.0
REAP_SECONDS = 600.0


class GithubWorker:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._wake = asyncio.Event()
        self._reaped = 0.0
        self._retries = github_hooks.Retries()
        platform.wake_github = self._wake.set

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await github_hooks.advance(self.platform, self._retries)
                ttl_seconds = self.platform.settings.preview_ttl
                if time.monotonic() - self._reaped > min(REAP_SECONDS, ttl_seconds / 4):
                    self._reaped = time.monotonic()
                    ttl = timedelta(seconds=ttl_seconds)
                    for name in await previews.reap(self.platform, ttl, github_hooks.ACTOR):
                        log.info("removed preview %s: nothing pushed to it for %s", name, ttl)
            except Exception:
                log.exception("the GitHub worker's pass failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), PASS_SECONDS)
