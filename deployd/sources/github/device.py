"""Logging in with GitHub's OAuth device flow, and refreshing expiring tokens.

`start` asks for a code the person enters at `verification_uri`; `poll` waits for them,
at the pace GitHub sets: the `interval`, raised by `slow_down`. The answers come as
`error` fields with HTTP 200 (or 400), as GitHub sends them; each becomes a
GitHubError in words, or a Grant.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx

from deployd.domain.text import escape

from .errors import LOGIN_AGAIN, GitHubError, GitHubErrorKind, Scrubber
from .models import DeviceCode, Endpoints, Grant
from .wire import Policy, Say, Sleep, Wire

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_SCOPE = "repo admin:repo_hook"
SLOW_DOWN_STEP = 5
"""Seconds `slow_down` adds to the interval when GitHub does not say the new one."""
GRACE = 60
"""Seconds of polling past `expires_in` before deployd gives up on its own."""


class DeviceFlow:
    def __init__(
        self,
        endpoints: Endpoints,
        *,
        policy: Policy | None = None,
        on_retry: Say | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoints = endpoints
        self._scrub = Scrubber()
        self._wire = Wire(
            headers={"Accept": "application/json"},
            policy=policy,
            on_retry=on_retry,
            transport=transport,
            scrub=self._scrub,
        )

    def __repr__(self) -> str:
        return f"DeviceFlow({self.endpoints.web_url!r})"

    async def aclose(self) -> None:
        await self._wire.aclose()

    async def __aenter__(self) -> DeviceFlow:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _url(self, path: str) -> httpx.URL:
        base = httpx.URL(self.endpoints.web_url)
        return base.copy_with(path=base.path.rstrip("/") + path)

    async def _post(self, path: str, form: dict[str, str], what: str) -> dict[str, Any]:
        answer = await self._wire.call("POST", self._url(path), what, form=form)
        if answer.status not in (200, 400, 401):
            raise self._wire.error(answer, what)
        kind = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind == "application/x-www-form-urlencoded":  # GitHub's answer unless JSON is asked
            return _form(answer.body)
        data = answer.json(what)
        if not isinstance(data, dict):
            raise self._wire.fail(
                GitHubErrorKind.INVALID, f"GitHub's answer about {what} is not an object"
            )
        return data

    async def start(self, client_id: str, scope: str = DEFAULT_SCOPE) -> DeviceCode:
        what = "a device code"
        data = await self._post(
            "/login/device/code", {"client_id": client_id, "scope": scope}, what
        )
        self._refused(data, client_id)
        if "error" in data:
            raise self._oauth_error(data, what)
        device_code = data.get("device_code")
        self._scrub.add(device_code if isinstance(device_code, str) else None)
        return self._wire.parse(DeviceCode, data | {"client_id": client_id}, what)

    async def poll(
        self,
        code: DeviceCode,
        *,
        sleep: Sleep = asyncio.sleep,
        on_wait: Say | None = None,
    ) -> Grant:
        """Wait for the person to enter the code: poll every `interval` seconds (longer
        after `slow_down`) until GitHub grants a token or says no."""
        self._scrub.add(code.device_code)
        interval, waited = max(code.interval, 1), 0
        form = {
            "client_id": code.client_id,
            "device_code": code.device_code,
            "grant_type": DEVICE_GRANT,
        }
        while True:
            if waited > code.expires_in + GRACE:
                raise self._expired(code)
            await sleep(interval)
            waited += interval
            data = await self._post("/login/oauth/access_token", form, "the device login")
            if "access_token" in data:
                return self._grant(data, "the device login")
            error = data.get("error")
            if error == "authorization_pending":
                if on_wait is not None:
                    left = max(0, code.expires_in - waited) // 60
                    on_wait(
                        f"waiting for the code {escape(code.user_code, 20)} to be entered at "
                        f"{escape(code.verification_uri, 200)} ({left} min left)"
                    )
            elif error == "slow_down":
                given = data.get("interval")
                if isinstance(given, int) and given > interval:
                    interval = given
                else:
                    interval += SLOW_DOWN_STEP
                if on_wait is not None:
                    on_wait(f"GitHub asked deployd to poll less often: every {interval} s now")
            elif error == "expired_token":
                raise self._expired(code)
            elif error == "access_denied":
                raise GitHubError(
                    GitHubErrorKind.FORBIDDEN,
                    f"the login was denied on GitHub (the code {escape(code.user_code, 20)} "
                    "was cancelled); "
                    f"{LOGIN_AGAIN} and authorize deployd",
                )
            else:
                self._refused(data, code.client_id)
                raise self._oauth_error(data, "the device login")

    async def refresh(self, client_id: str, refresh_token: str) -> Grant:
        """A new token (and refresh token) for an expiring one; the old ones are spent."""
        self._scrub.add(refresh_token)
        what = "a token refresh"
        form = {
            "client_id": client_id,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        data = await self._post("/login/oauth/access_token", form, what)
        if "access_token" in data:
            return self._grant(data, what)
        if data.get("error") == "bad_refresh_token":
            raise GitHubError(
                GitHubErrorKind.AUTH,
                f"GitHub refused to refresh the token (the refresh token has expired or was "
                f"used already); {LOGIN_AGAIN}",
            )
        self._refused(data, client_id)
        raise self._oauth_error(data, what)

    def _grant(self, data: dict[str, Any], what: str) -> Grant:
        self._scrub.add(
            *(v for k in ("access_token", "refresh_token") if isinstance(v := data.get(k), str))
        )
        now = datetime.now(UTC)

        def at(key: str) -> datetime | None:
            seconds = data.get(key)
            return now + timedelta(seconds=seconds) if isinstance(seconds, int) else None

        fields = {
            "access_token": data.get("access_token"),
            "refresh_token": data.get("refresh_token") or None,
            "expires_at": at("expires_in"),
            "refresh_token_expires_at": at("refresh_token_expires_in"),
            "scope": data.get("scope") or "",
        }
        return self._wire.parse(Grant, fields, what)

    def _refused(self, data: dict[str, Any], client_id: str) -> None:
        """The errors that mean deployd's settings are wrong, not the person."""
        error = data.get("error")
        app = f"the OAuth app {escape(client_id, 40)} (DEPLOYD_GITHUB_CLIENT_ID)"
        if error == "incorrect_client_credentials":
            raise GitHubError(GitHubErrorKind.REFUSED, f"GitHub does not know {app}")
        if error == "device_flow_disabled":
            raise GitHubError(
                GitHubErrorKind.REFUSED,
                f"{app} does not allow the device flow: enable it in the app's settings on GitHub",
            )

    def _oauth_error(self, data: dict[str, Any], what: str) -> GitHubError:
        error, said = data.get("error"), data.get("error_description")
        words = escape(said, 160) if isinstance(said, str) else escape(str(error), 60)
        if error is None:
            return self._wire.fail(
                GitHubErrorKind.INVALID, f"GitHub's answer about {what} has no token and no error"
            )
        return self._wire.fail(
            GitHubErrorKind.REFUSED, f"GitHub refused {what}: {words}; {LOGIN_AGAIN}"
        )

    def _expired(self, code: DeviceCode) -> GitHubError:
        return GitHubError(
            GitHubErrorKind.AUTH,
            f"the code {escape(code.user_code, 20)} expired before it was entered; {LOGIN_AGAIN}",
        )


def _form(body: bytes) -> dict[str, Any]:
    """A form-encoded OAuth answer, with the numbers GitHub sends as numbers."""
    found: dict[str, Any] = dict(parse_qsl(body.decode(errors="replace")))
    for key in ("expires_in", "interval", "refresh_token_expires_in"):
        if isinstance(found.get(key), str) and found[key].isdigit():
            found[key] = int(found[key])
    return found
