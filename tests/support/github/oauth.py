"""GitHub's OAuth device flow and refresh grant on `<web>/login/...`.

As github.com does: form-encoded answers unless the client asks for JSON; the polling
errors (authorization_pending, slow_down, expired_token, access_denied, ...) come with
HTTP 200 and an `error` field; `slow_down` adds five seconds and says the new interval.
"""

from __future__ import annotations

import html
import secrets
from typing import Any

from tests.support.github.wire import Request, Response
from tests.support.github.world import DeviceGrant, RefreshToken, Token, World, new_user_code
from tests.support.github.world import token_string as new_token

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ERROR_URI = (
    "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow"
)
ACCESS_LIFETIME = 28800  # eight hours, as for GitHub Apps' expiring user tokens
REFRESH_LIFETIME = 15811200  # six months

DESCRIPTIONS = {
    "authorization_pending": "The authorization request is still pending.",
    "slow_down": "Too many requests have been made in the same timeframe.",
    "expired_token": "The `device_code` has expired.",
    "access_denied": "The authorization request was denied.",
    "unsupported_grant_type": "The grant type is not supported.",
    "incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
    "incorrect_device_code": "The device_code provided is not valid.",
    "device_flow_disabled": "Device Flow must be explicitly enabled for this App",
    "bad_refresh_token": "The refresh token passed is incorrect or expired.",
}


def _answer(request: Request, status: int, data: dict[str, Any]) -> Response:
    if request.accepts_json():
        return Response.json(status, data)
    return Response.form(status, data)


def _error(request: Request, code: str, status: int = 200, **extra: Any) -> Response:
    data = {"error": code, "error_description": DESCRIPTIONS[code], "error_uri": ERROR_URI}
    return _answer(request, status, data | extra)


class OAuth:
    def __init__(self, world: World, web_url: str, interval: int, expires_in: int) -> None:
        self.world = world
        self.web_url = web_url
        self.interval = interval
        self.expires_in = expires_in

    def device_code(self, request: Request) -> Response:
        form = request.form()
        with self.world.lock:
            app = self.world.apps.get(form.get("client_id", ""))
            if app is None:
                return _error(request, "incorrect_client_credentials", 400)
            if not app.device_flow:
                return _error(request, "device_flow_disabled", 400)
            now = self.world.now()
            grant = DeviceGrant(
                device_code=secrets.token_hex(20),
                user_code=new_user_code(),
                client_id=app.client_id,
                scopes=tuple(form.get("scope", "").replace(",", " ").split()),
                issued_at=now,
                expires_at=now + self.expires_in,
                interval=self.interval,
            )
            self.world.grants[grant.device_code] = grant
        return _answer(
            request,
            200,
            {
                "device_code": grant.device_code,
                "user_code": grant.user_code,
                "verification_uri": f"{self.web_url}/login/device",
                "expires_in": self.expires_in,
                "interval": grant.interval,
            },
        )

    def access_token(self, request: Request) -> Response:
        form = request.form()
        grant_type = form.get("grant_type")
        with self.world.lock:
            app = self.world.apps.get(form.get("client_id", ""))
            if grant_type == "refresh_token":
                return self._refresh(request, form)
            if grant_type != DEVICE_GRANT:
                return _error(request, "unsupported_grant_type")
            if app is None:
                return _error(request, "incorrect_client_credentials")
            grant = self.world.grants.get(form.get("device_code", ""))
            if grant is None or grant.client_id != app.client_id or grant.state == "redeemed":
                return _error(request, "incorrect_device_code")
            now = self.world.now()
            if now >= grant.expires_at:
                return _error(request, "expired_token")
            if grant.state == "denied":
                return _error(request, "access_denied")
            too_soon = grant.last_poll is not None and now - grant.last_poll < grant.interval
            grant.last_poll = now
            if too_soon:
                grant.interval += 5
                return _error(request, "slow_down", interval=grant.interval)
            if grant.state == "pending":
                return _error(request, "authorization_pending")
            assert grant.login is not None
            grant.state = "redeemed"
            return _answer(
                request, 200, self._issue(grant.login, app.client_id, grant.scopes, True)
            )

    def _issue(
        self, login: str, client_id: str, scopes: tuple[str, ...], from_device_flow: bool
    ) -> dict[str, Any]:
        app = self.world.apps[client_id]
        now = self.world.now()
        if not app.expiring_tokens:
            token = Token(new_token("gho_"), login, scopes, client_id)
            self.world.tokens[token.value] = token
            return {"access_token": token.value, "token_type": "bearer", "scope": ",".join(scopes)}
        token = Token(new_token("ghu_"), login, (), client_id, expires_at=now + ACCESS_LIFETIME)
        refresh = RefreshToken(
            new_token("ghr_"),
            login,
            client_id,
            token.value,
            now + REFRESH_LIFETIME,
            from_device_flow,
        )
        self.world.tokens[token.value] = token
        self.world.refresh_tokens[refresh.value] = refresh
        return {
            "access_token": token.value,
            "expires_in": ACCESS_LIFETIME,
            "refresh_token": refresh.value,
            "refresh_token_expires_in": REFRESH_LIFETIME,
            "token_type": "bearer",
            "scope": "",
        }

    def _refresh(self, request: Request, form: dict[str, str]) -> Response:
        app = self.world.apps.get(form.get("client_id", ""))
        refresh = self.world.refresh_tokens.get(form.get("refresh_token", ""))
        if app is None:
            return _error(request, "incorrect_client_credentials")
        secret_needed = refresh is not None and not refresh.from_device_flow
        if secret_needed and form.get("client_secret") != app.client_secret:
            # the client secret is required unless the token came from the device flow
            return _error(request, "incorrect_client_credentials")
        if (
            refresh is None
            or refresh.used
            or refresh.client_id != app.client_id
            or self.world.now() >= refresh.expires_at
        ):
            return _error(request, "bad_refresh_token")
        refresh.used = True
        old = self.world.tokens.get(refresh.access_token)
        if old is not None:
            old.revoked = True  # a used refresh token takes its access token with it
        issued = self._issue(refresh.login, app.client_id, (), refresh.from_device_flow)
        return _answer(request, 200, issued)

    def device_page(self, request: Request) -> Response:
        """What a person would see at the verification URI (the test approves instead)."""
        del request
        body = (
            "<!doctype html><title>Device Activation</title>"
            "<h1>Device Activation</h1><p>Enter the code displayed on your device.</p>"
            f"<p>{html.escape(self.web_url)}</p>"
        )
        return Response.text(200, body, "text/html")
