"""The one way the GitHub client talks HTTP: timeouts, retries, redirects, size caps.

Every request has a time limit (per read and for the whole exchange). 5xx answers,
network failures and secondary rate limits are retried with exponential back-off, and
each retry is announced (`on_retry`); a spent primary rate limit is not waited for (it can
be an hour) but becomes RATE_LIMITED with its reset time. Redirects are followed only to
the same scheme, host and port (GitHub moves renamed repositories that way), never to
another host. An answer larger than `max_bytes`, compressed or not, is refused while it
is read, so a hostile server cannot fill the daemon's memory.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ValidationError

from deployd import __version__
from deployd.domain.sources import human_size
from deployd.domain.text import escape

from .errors import LOGIN_AGAIN, GitHubError, GitHubErrorKind, Scrubber
from .models import origin

M = TypeVar("M", bound=BaseModel)
Sleep = Callable[[float], Awaitable[None]]
Say = Callable[[str], None]

MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)
SECONDARY_WAIT = 60.0
"""GitHub: without Retry-After, wait at least a minute after a secondary rate limit."""
HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": f"deployd/{__version__}",
    "Accept-Encoding": "gzip",
}


def _ignore(message: str) -> None:
    del message


@dataclass(frozen=True)
class Answer:
    """A complete (capped) answer: status, headers and the body."""

    response: httpx.Response = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    def json(self, what: str) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            raise GitHubError(
                GitHubErrorKind.INVALID, f"GitHub's answer about {what} is not JSON"
            ) from None

    def next_page(self) -> str | None:
        link = self.response.links.get("next")
        return link.get("url") if link else None


@dataclass
class Policy:
    """How hard to try: the time limits, the retries and their pace."""

    timeout: float = 30.0
    """Seconds for connecting and for each read or write."""
    total: float = 120.0
    """Seconds for one whole exchange (a slow trickle of bytes included)."""
    retries: int = 3
    backoff: float = 1.0
    """The first retry's wait; each next one waits twice as long."""
    max_wait: float = SECONDARY_WAIT
    """The longest Retry-After deployd waits for; a longer one is RATE_LIMITED."""
    max_bytes: int = MAX_BYTES


class Wire:
    def __init__(
        self,
        *,
        headers: dict[str, str] | None = None,
        policy: Policy | None = None,
        on_retry: Say | None = None,
        sleep: Sleep = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
        scrub: Scrubber | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self.on_retry = on_retry or _ignore
        self.sleep = sleep
        self.scrub = scrub or Scrubber()
        self.client = httpx.AsyncClient(
            headers=HEADERS | (headers or {}),
            timeout=httpx.Timeout(self.policy.timeout),
            follow_redirects=False,
            transport=transport,
            trust_env=False,  # no proxy or netrc from the daemon's environment
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def fail(self, kind: GitHubErrorKind, message: str, **extra: Any) -> GitHubError:
        return GitHubError(kind, self.scrub(message), **extra)

    async def call(
        self,
        method: str,
        url: httpx.URL,
        what: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """The answer to one request, after the retries; errors only for what retrying
        cannot mend (the caller judges the status)."""
        content, sent = None, dict(headers or {})
        if json_body is not None:
            content, sent["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            content = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        policy = self.policy
        for attempt in range(policy.retries + 1):
            wait = policy.backoff * 2**attempt
            try:
                answer = await self._redirected(method, url, what, content, sent)
            except (httpx.TransportError, TimeoutError) as exc:
                problem = self._network_words(exc, url)
            else:
                limited = self._rate_limit(answer)
                if limited is not None:
                    raise limited
                asked = _retry_after(answer)
                if asked is not None:
                    if asked > policy.max_wait:
                        raise self.fail(
                            GitHubErrorKind.RATE_LIMITED,
                            f"GitHub asks deployd to wait {asked:.0f} s before it calls "
                            f"again ({_message(answer) or 'a secondary rate limit'}); "
                            "try again then",
                        )
                    problem, wait = f"GitHub answered {answer.status} (slow down)", asked
                elif answer.status >= 500:
                    problem = f"GitHub answered {answer.status}"
                else:
                    return answer
            if attempt == policy.retries:
                tries = "once" if attempt == 0 else f"{attempt + 1} times"
                raise self.fail(
                    GitHubErrorKind.UNAVAILABLE,
                    f"{problem} ({tries}, for {what}); try again later",
                )
            self.on_retry(self.scrub(f"{problem}; trying again in {wait:.0f} s"))
            await self.sleep(wait)
        raise AssertionError("unreachable")

    async def _redirected(
        self, method: str, url: httpx.URL, what: str, content: bytes | None, headers: dict[str, str]
    ) -> Answer:
        for _ in range(MAX_REDIRECTS + 1):
            answer = await self._exchange(method, url, content, headers)
            location = answer.headers.get("Location")
            if answer.status not in REDIRECTS or location is None:
                return answer
            try:
                target = url.join(location)
            except httpx.InvalidURL:
                raise self.fail(
                    GitHubErrorKind.INVALID, f"GitHub redirected {what} to a URL that is not one"
                ) from None
            if origin(target) != origin(url):
                raise self.fail(
                    GitHubErrorKind.INVALID,
                    f"GitHub redirected {what} to another host ({escape(target.host, 80)}); "
                    "deployd follows redirects only on the same host",
                )
            if answer.status in (301, 302, 303) and method not in ("GET", "HEAD"):
                raise self.fail(
                    GitHubErrorKind.INVALID,
                    f"GitHub answered {method} for {what} with a redirect ({answer.status}) "
                    "that would drop the request",
                )
            url = target
        raise self.fail(GitHubErrorKind.INVALID, f"GitHub redirected {what} too many times")

    async def _exchange(
        self, method: str, url: httpx.URL, content: bytes | None, headers: dict[str, str]
    ) -> Answer:
        request = self.client.build_request(method, url, content=content, headers=headers)
        async with asyncio.timeout(self.policy.total):
            response = await self.client.send(request, stream=True)
            try:
                body = await self._read(response)
            finally:
                await response.aclose()
        return Answer(response, body)

    async def _read(self, response: httpx.Response) -> bytes:
        limit = self.policy.max_bytes
        too_large = self.fail(
            GitHubErrorKind.INVALID,
            f"GitHub's answer is larger than {human_size(limit)}: refused",
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding in ("", "identity"):
            decoder = None
        else:
            raise self.fail(
                GitHubErrorKind.INVALID,
                f"GitHub answered in an encoding deployd did not ask for ({escape(encoding, 20)})",
            )
        body, raw = bytearray(), 0
        async for chunk in response.aiter_raw():
            raw += len(chunk)
            if raw > limit:
                raise too_large
            if decoder is not None:
                try:
                    chunk = decoder.decompress(chunk, limit - len(body) + 1)
                except zlib.error:
                    raise self.fail(
                        GitHubErrorKind.INVALID, "GitHub's compressed answer is damaged"
                    ) from None
                if decoder.unconsumed_tail:
                    raise too_large
            body += chunk
            if len(body) > limit:
                raise too_large
        return bytes(body)

    def _network_words(self, exc: BaseException, url: httpx.URL) -> str:
        host = escape(url.netloc.decode(errors="replace"), 80)
        if isinstance(exc, httpx.ConnectError):
            return f"cannot connect to GitHub at {host}"
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            return f"GitHub at {host} did not answer in time"
        return f"the connection to GitHub at {host} failed ({type(exc).__name__})"

    def _rate_limit(self, answer: Answer) -> GitHubError | None:
        """A spent primary rate limit (403 or 429 with X-RateLimit-Remaining: 0)."""
        headers = answer.headers
        if answer.status not in (403, 429) or headers.get("X-RateLimit-Remaining") != "0":
            return None
        reset = headers.get("X-RateLimit-Reset", "")
        reset_at = datetime.fromtimestamp(int(reset), UTC) if reset.isdigit() else None
        when = "later"
        if reset_at is not None:
            minutes = max(0, round((reset_at - datetime.now(UTC)).total_seconds() / 60))
            when = f"at {reset_at:%H:%M} UTC (in {minutes} min)"
        return self.fail(
            GitHubErrorKind.RATE_LIMITED,
            f"GitHub's API rate limit for this token is used up; it resets {when}: try again then",
            reset_at=reset_at,
        )

    # turning answers into records and errors
    def error(self, answer: Answer, what: str) -> GitHubError:
        """The error for an answer that is not a success."""
        status, said = answer.status, _message(answer)
        words = f" ({said})" if said else ""
        if status == 401:
            return self.fail(
                GitHubErrorKind.AUTH,
                f"GitHub refused the token{words}: it has expired or was revoked; {LOGIN_AGAIN}",
            )
        hint = _scope_hint(answer)
        if status == 404:
            return self.fail(
                GitHubErrorKind.NOT_FOUND,
                f"GitHub has no {what}, or this token may not see it{hint}",
            )
        if status == 403:
            return self.fail(
                GitHubErrorKind.FORBIDDEN, f"GitHub refused access to {what}{words}{hint}"
            )
        if 400 <= status < 500:
            return self.fail(
                GitHubErrorKind.REFUSED,
                f"GitHub refused the request about {what}{words}{_details(answer)}",
            )
        return self.fail(GitHubErrorKind.INVALID, f"GitHub answered {status} about {what}")

    def expect(self, answer: Answer, what: str, *ok: int) -> Answer:
        if answer.status not in (ok or (200,)):
            raise self.error(answer, what)
        return answer

    def parse(self, model: type[M], data: Any, what: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the answer"
            raise self.fail(
                GitHubErrorKind.INVALID,
                f"GitHub's answer about {what} is not what deployd expects "
                f"({escape(where, 60)}: {escape(first['msg'], 80)})",
            ) from None


def _retry_after(answer: Answer) -> float | None:
    """Seconds GitHub asks a client to wait: Retry-After, or the minute a secondary rate
    limit without one calls for; None when it asks for no wait."""
    value = answer.headers.get("Retry-After", "").strip()
    if value.isdigit() and answer.status in (403, 429, 503):
        return float(value)
    if answer.status in (403, 429) and "secondary rate limit" in _message(answer).lower():
        return SECONDARY_WAIT
    if answer.status == 429:
        return SECONDARY_WAIT
    return None


def _document(answer: Answer) -> dict[str, Any]:
    try:
        data = json.loads(answer.body)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _message(answer: Answer) -> str:
    said = _document(answer).get("message")
    return escape(said, 200) if isinstance(said, str) else ""


def _details(answer: Answer) -> str:
    """GitHub's validation errors, in words: `errors: [{resource, field, code, message}]`."""
    found = _document(answer).get("errors")
    if not isinstance(found, list):
        return ""
    parts = []
    for item in found[:5]:
        if isinstance(item, str):
            parts.append(escape(item, 120))
        elif isinstance(item, dict):
            said = item.get("message")
            if isinstance(said, str):
                parts.append(escape(said, 120))
            else:
                field_, code = item.get("field"), item.get("code")
                parts.append(escape(f"{field_} is {code}", 120))
    return f": {'; '.join(parts)}" if parts else ""


def _scope_hint(answer: Answer) -> str:
    """Which scopes the endpoint accepts when the token has none of them."""
    accepted = [s.strip() for s in answer.headers.get("X-Accepted-OAuth-Scopes", "").split(",")]
    has = [s.strip() for s in answer.headers.get("X-OAuth-Scopes", "").split(",")]
    accepted, has = [s for s in accepted if s], [s for s in has if s]
    if not accepted or "X-OAuth-Scopes" not in answer.headers or set(accepted) & set(has):
        return ""
    return (
        f" (this needs a token with one of the scopes {escape(', '.join(accepted), 120)}; "
        f"this one has {escape(', '.join(has), 120) or 'none'}: {LOGIN_AGAIN})"
    )
