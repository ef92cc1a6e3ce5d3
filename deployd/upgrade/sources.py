"""Where new versions of deployd come from (`DEPLOYD_UPDATE_SOURCE`): the tags of a git
repository of deployd (`v1.4.2`), or the wheels of a package index (PEP 503's simple
API). Either way the answer is a map of version → exactly what was offered (a wheel's own URL,
a tag), which is what gets installed: never a name an index could answer with something
else."""

from __future__ import annotations

import os
import re
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from deployd.domain.text import last_line
from deployd.domain.upgrades import as_version

PACKAGE = "deployd"
LISTING_LIMIT = 4 * 1024 * 1024
TIMEOUT = 60.0
TAG = re.compile(r"^refs/tags/(v?[0-9][0-9A-Za-z.+!-]{0,60})$")
SOURCE = re.compile(r"^(git\+)?(https?|file|ssh)://[^\s]{1,1000}$")


class SourceError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Offer:
    url: str
    """A git repository of deployd, or a wheel."""
    tag: str | None = None
    """For a repository: the tag of the version."""


def without_secrets(source: str, text: str) -> str:
    """`text` with the source's credentials (a token in its URL) replaced by `***`: what
    git, pip or an error says of the source is shown, logged and published."""
    parts = urllib.parse.urlsplit(source.removeprefix("git+"))
    for raw in (parts.password, parts.username):
        if raw:  # as written in the URL, and as decoded
            for secret in sorted({raw, urllib.parse.unquote(raw)}, key=len, reverse=True):
                text = text.replace(secret, "***")
    return text


def is_git(source: str) -> bool:
    plain = source.removeprefix("git+")
    return (
        source.startswith("git+")
        or plain.startswith(("file://", "ssh://"))
        or plain.rstrip("/").endswith(".git")
    )


def offered(source: str) -> dict[str, Offer]:
    if not SOURCE.match(source):
        raise SourceError(f"the update source is not a URL deployd can use: {source!r}")
    return _tags(source.removeprefix("git+")) if is_git(source) else _wheels(source)


def _tags(url: str) -> dict[str, Offer]:
    try:
        listing = subprocess.run(
            ["git", "ls-remote", "--tags", "--refs", "--", url],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            env=tool_env(),
        )
    except subprocess.TimeoutExpired:
        raise SourceError(f"{url} did not answer within {TIMEOUT:.0f} s") from None
    if listing.returncode != 0:
        raise SourceError(f"git could not list the tags of {url}: {last_line(listing.stderr)}")
    found: dict[str, Offer] = {}
    for line in listing.stdout.splitlines():
        _, _, ref = line.partition("\t")
        match = TAG.match(ref)
        version = as_version(match[1]) if match else None
        if match and version is not None:
            found[str(version)] = Offer(url, match[1])
    return found


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def _wheels(index: str) -> dict[str, Offer]:
    page = urllib.parse.urljoin(index.rstrip("/") + "/", f"{PACKAGE}/")
    if not page.startswith(("https://", "http://")):
        raise SourceError(f"a package index is reached over http(s), not {page}")
    try:
        with urllib.request.urlopen(page, timeout=TIMEOUT) as reply:  # noqa: S310 (http(s))
            body = reply.read(LISTING_LIMIT + 1)
    except OSError as exc:
        raise SourceError(f"could not read {page}: {exc}") from None
    if len(body) > LISTING_LIMIT:
        raise SourceError(f"{page} is larger than {LISTING_LIMIT} bytes")
    links = _Links()
    links.feed(body.decode(errors="replace"))
    found: dict[str, Offer] = {}
    for href in links.hrefs:
        url = urllib.parse.urljoin(page, href)
        if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
            continue  # an index's page names files on the web, never on this host
        name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        try:
            package, version, _, tags = parse_wheel_filename(name)
        except InvalidWheelFilename:
            continue
        if package == PACKAGE and any(t.interpreter.startswith("py3") for t in tags):
            found[str(version)] = Offer(url)
    return found


PASSED_TO_TOOLS = (
    "PATH", "HOME", "LANG", "LC_ALL", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "GIT_SSL_CAINFO",
    "http_proxy", "https_proxy", "no_proxy",
)  # fmt: skip


def tool_env() -> dict[str, str]:
    """What git and pip may see of the daemon's environment (the way out: proxies, CAs,
    pip's own settings), never DEPLOYD_* (conninfos, keys); git never asks for a password."""
    env = {k: v for k, v in os.environ.items() if k in PASSED_TO_TOOLS or k.startswith("PIP_")}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("HOME", "/root")
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env
