"""Rules for passwords and tokens that do not depend on where they are stored.

Tokens are random strings handed out once; only their SHA-256 is stored, so a database
dump cannot be replayed. bcrypt is used for passwords, and bcrypt reads at most 72 bytes:
a longer password would be silently truncated, so it is refused instead.
"""

from __future__ import annotations

import hashlib

from .errors import DomainError

TOKEN_PREFIX = "dpd_"  # noqa: S105 (a marker, not a secret)
BCRYPT_MAX_BYTES = 72
MIN_PASSWORD_CHARS = 8


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise DomainError(f"password must be at least {MIN_PASSWORD_CHARS} characters long")
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        raise DomainError(f"password must be at most {BCRYPT_MAX_BYTES} bytes long (UTF-8)")
    if "\x00" in password:
        raise DomainError("password must not contain NUL characters")


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def looks_like_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and 20 <= len(token) <= 200
