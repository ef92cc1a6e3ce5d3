"""Forms: their bodies, read bounded, and the tokens that prove a form came from a page of
ours (CSRF).

A logged-in person's forms carry their session's token. The login form, before there is
a session, carries an HMAC of a random value the browser holds in a cookie of its own
(signed double submit): nothing is kept here per visitor, so no one can fill this
process's memory by asking for login pages, nor push others' login forms out of it.
Cookies are SameSite=Strict besides, so another site's page cannot send them at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request

FORM_BYTES = 16 * 1024
"""The largest form body read: every form here is a few fields."""
FIELD = "csrf"
LOGIN_COOKIE = "deployd_login"


async def read_form(request: Request, limit: int = FORM_BYTES) -> dict[str, str]:
    """The fields of an `application/x-www-form-urlencoded` body (each field's first value);
    none for any other kind of body (which then lacks its CSRF token: 403); 413 past
    `limit` bytes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, "the form is too large")
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


def number(raw: str | None, digits: int = 18) -> int | None:
    """A whole number written in ASCII digits, at most `digits` of them; None otherwise
    (`str.isdigit` takes '²', which `int` refuses: a 500 for a hostile form or header)."""
    given = (raw or "").strip()
    if not (given.isascii() and given.isdecimal() and len(given) <= digits):
        return None
    return int(given)


def same(sent: str | None, expected: str) -> bool:
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())


def require(fields: dict[str, str], expected: str) -> None:
    """403 unless the form carries the expected token."""
    if not same(fields.get(FIELD), expected):
        raise HTTPException(403, "the form's security token is missing or wrong: reload the page")


class LoginForms:
    """The login form's tokens: a random value for the cookie, its HMAC for the form."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def issue(self) -> tuple[str, str]:
        """(the cookie's value, the form's token)."""
        nonce = secrets.token_urlsafe(32)
        return nonce, self.sign(nonce)

    def sign(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def check(self, nonce: str | None, token: str | None) -> bool:
        return bool(nonce) and same(token, self.sign(nonce or ""))
