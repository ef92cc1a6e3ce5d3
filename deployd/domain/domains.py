"""Domain names users attach to apps, and the rules of their certificates.

A name is checked before it reaches a template, a shell or the filesystem: lowercased,
IDNA-encoded (IDNA 2008 with UTS #46 mapping, so `Bücher.Example` becomes
`xn--bcher-kva.example`), at most 253 characters, every label 1-63 characters of letters,
digits and inner hyphens (RFC 1123), at least two labels. Wildcards are refused (they need
DNS-01 validation, which deployd does not do), and so are labels that mix Latin letters
with Cyrillic, Greek or other look-alike scripts (`ex\u0430mple.com`, with a Cyrillic a).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import idna

from .errors import DomainError
from .text import excerpt

LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MAX_LENGTH = 253
_CONFUSABLE_SCRIPTS = {"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"}
LATIN_LOOKALIKES = frozenset(
    "\u0430"  # cyrillic small letter a
    "\u0441"  # cyrillic small letter es
    "\u0501"  # cyrillic small letter komi de
    "\u0435"  # cyrillic small letter ie
    "\u04bb"  # cyrillic small letter shha
    "\u0456"  # cyrillic small letter byelorussian-ukrainian i
    "\u0458"  # cyrillic small letter je
    "\u04cf"  # cyrillic small letter palochka
    "\u043e"  # cyrillic small letter o
    "\u0440"  # cyrillic small letter er
    "\u051b"  # cyrillic small letter qa
    "\u0455"  # cyrillic small letter dze
    "\u051d"  # cyrillic small letter we
    "\u0445"  # cyrillic small letter ha
    "\u0443"  # cyrillic small letter u
    "\u044a"  # cyrillic small letter hard sign
    "\u044c"  # cyrillic small letter soft sign
    "\u04bd"  # cyrillic small letter abkhasian che
    "\u043f"  # cyrillic small letter pe
    "\u0433"  # cyrillic small letter ghe
    "\u0475"  # cyrillic small letter izhitsa
    "\u0461"  # cyrillic small letter omega
    "\u043a"  # cyrillic small letter ka
    "\u043c"  # cyrillic small letter em
    "\u0442"  # cyrillic small letter te
    "\u0432"  # cyrillic small letter ve
    "\u03b1"  # greek small letter alpha
    "\u03b5"  # greek small letter epsilon
    "\u03b9"  # greek small letter iota
    "\u03ba"  # greek small letter kappa
    "\u03bd"  # greek small letter nu
    "\u03bf"  # greek small letter omicron
    "\u03c1"  # greek small letter rho
    "\u03c4"  # greek small letter tau
    "\u03c5"  # greek small letter upsilon
    "\u03c7"  # greek small letter chi
)
"""Cyrillic and Greek letters that look like Latin ones: a label made of nothing else
(`\u0441\u043e\u0441\u043e`, that is "coco" in Cyrillic) imitates a Latin name, as
browsers' spoof checks also judge."""

RENEW_BEFORE = timedelta(days=30)
RETRY_AFTER = (timedelta(hours=6), timedelta(hours=12), timedelta(hours=24))
"""After a failed attempt, the next waits this long (then a day each): a few tries per
domain per day at most, far inside any CA's rate limits."""


def _scripts(label: str) -> set[str]:
    scripts = set()
    for char in label:
        if char.isascii():
            if char.isalpha():
                scripts.add("LATIN")
            continue
        name = unicodedata.name(char, "")
        scripts.add(name.split(" ")[0] if name else "UNKNOWN")
    return scripts


def normalize(name: str) -> str:
    """The ASCII (IDNA) form of a domain a user typed; DomainError says what is wrong."""
    shown = name[:80] + ("…" if len(name) > 80 else "")
    text = name.strip().rstrip(".")
    if not text or len(text) > MAX_LENGTH * 2:
        raise DomainError(f"invalid domain {shown!r}: empty or far too long")
    if "*" in text:
        raise DomainError(
            f"invalid domain {shown!r}: wildcard domains need DNS validation, which deployd "
            "does not do; attach each name"
        )
    try:
        ascii_name = idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise DomainError(f"invalid domain {shown!r}: {exc}") from None
    except UnicodeError:
        raise DomainError(f"invalid domain {shown!r}: not a valid host name") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > MAX_LENGTH:
        raise DomainError(f"invalid domain {shown!r}: longer than {MAX_LENGTH} characters")
    if len(labels) < 2:
        raise DomainError(f"invalid domain {shown!r}: give a full name such as shop.example.com")
    for label in labels:
        if not LABEL.fullmatch(label):
            raise DomainError(
                f"invalid domain {shown!r}: each label is 1-63 letters, digits or inner hyphens"
            )
    if labels[-1].isdigit():
        raise DomainError(f"invalid domain {shown!r}: an IP address is not a domain")
    for label in labels:  # as people will read it, whichever form was typed (xn--…)
        try:
            readable = idna.decode(label) if label.startswith("xn--") else label
        except (idna.IDNAError, UnicodeError):
            raise DomainError(
                f"invalid domain {shown!r}: {excerpt(label)} is no valid IDN label"
            ) from None
        _check_lookalikes(shown, readable)
    return ascii_name


def _check_lookalikes(shown: str, label: str) -> None:
    scripts = _scripts(label)
    if "LATIN" in scripts and scripts & _CONFUSABLE_SCRIPTS:
        raise DomainError(
            f"invalid domain {shown!r}: the label {excerpt(label)} mixes Latin letters "
            f"with {', '.join(sorted(scripts & _CONFUSABLE_SCRIPTS)).lower()} look-alikes"
        )
    letters = {c for c in label if c.isalpha()}
    if letters and letters <= LATIN_LOOKALIKES:
        raise DomainError(
            f"invalid domain {shown!r}: the label {excerpt(label)} is written only with "
            "letters that look like Latin ones: it would pass for a Latin name"
        )


def address_owner(name: str, base_domain: str) -> str | None:
    """Every app answers at `<app>.<base domain>`, so that name and the names under it
    belong to the app called <app>, existing or not: the app whose name it is, or None
    for a name outside the base domain."""
    suffix = "." + base_domain
    if not name.endswith(suffix):
        return None
    return name.removesuffix(suffix).rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class CertState:
    not_after: datetime | None
    failures: int
    last_attempt: datetime | None


def renewal_due(cert: CertState, now: datetime, renew_before: timedelta = RENEW_BEFORE) -> bool:
    """Renew when fewer than `renew_before` remain, unless the last failure is too recent."""
    if cert.not_after is None or cert.not_after - now > renew_before:
        return False
    retry = retry_at(cert)
    return retry is None or retry <= now


def retry_at(cert: CertState) -> datetime | None:
    """When a certificate that failed may be tried again; None if it has not failed."""
    if cert.failures == 0 or cert.last_attempt is None:
        return None
    return cert.last_attempt + RETRY_AFTER[min(cert.failures, len(RETRY_AFTER)) - 1]
