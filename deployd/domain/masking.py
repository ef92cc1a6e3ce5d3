"""Hiding secret values in text that leaves the vault: logs, events, errors, audit entries.

Every value of an app's config at least `MIN_SECRET_LENGTH` characters long is a secret,
and so is every line of a multi-line value that is (a PEM key printed line by line must not
leak either). A match becomes `[masked:NAME]`, which says what was there without saying it.

Speed: all secrets are one RE2 pattern (google-re2): RE2 turns an alternation of literals
into a DFA that reads each byte once, whatever the number of secrets. Python's `re`
backtracks through every alternative at every position and is about 20 times slower with
50 secrets; fifty `bytes.find` passes are about 10 times slower (bench/masking.py).

`StreamMasker` masks a stream cut into arbitrary chunks: it holds back only the end of the
text that could still be the beginning of a secret, so a secret split across two chunks is
masked whole, and ordinary output is never delayed. What it emits is exactly what masking
the whole stream at once would give.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import re2

MIN_SECRET_LENGTH = 6

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print to the app's log otherwise
_OPTIONS.max_mem = 64 << 20  # room for the DFA of large values (certificates, keys)


def secret_parts(values: Iterable[tuple[str, str]]) -> dict[bytes, str]:
    """The byte strings to hide, each with the name of the variable it belongs to."""
    parts: dict[bytes, str] = {}
    for name, value in values:
        pieces = [value, *value.splitlines()] if "\n" in value or "\r" in value else [value]
        for piece in pieces:
            if len(piece.strip()) >= MIN_SECRET_LENGTH:
                parts.setdefault(piece.encode(), name)
    return parts


class Masker:
    def __init__(self, values: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        """`values`: name → value, or (name, value) pairs (one name may come with several
        values: those of several config versions)."""
        pairs = values.items() if isinstance(values, Mapping) else values
        self._use(secret_parts(pairs))

    def _use(self, names: dict[bytes, str]) -> None:
        self._names = names
        # Longest first: at one position the first alternative that matches wins, so a
        # secret that contains another is masked whole.
        self._secrets = sorted(names, key=len, reverse=True)
        self.longest = len(self._secrets[0]) if self._secrets else 0
        self._pattern = (
            re2.compile(b"|".join(re2.escape(s) for s in self._secrets), _OPTIONS)
            if self._secrets
            else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    @classmethod
    def union(cls, maskers: Iterable[Masker]) -> Masker:
        names: dict[bytes, str] = {}
        for masker in maskers:
            for secret, name in masker._names.items():
                names.setdefault(secret, name)
        merged = cls()
        merged._use(names)
        return merged

    def matches(self, data: bytes) -> Iterator[tuple[int, int, bytes]]:
        """(start, end, replacement) of every secret in `data`, left to right."""
        if self._pattern is None or self._pattern.search(data) is None:
            return
        for match in self._pattern.finditer(data):
            yield match.start(), match.end(), self._replacement(match.group(0))

    def _replacement(self, secret: bytes) -> bytes:
        return b"[masked:%s]" % self._names[secret].encode()

    def mask_bytes(self, data: bytes) -> bytes:
        if self._pattern is None or self._pattern.search(data) is None:
            return data
        masked: bytes = self._pattern.sub(lambda m: self._replacement(m.group(0)), data)
        return masked

    def mask(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        data = text.encode(errors="surrogatepass")
        masked = self.mask_bytes(data)
        return text if masked is data else masked.decode(errors="surrogatepass")

    def mask_data(self, value: object) -> object:
        """Mask every string inside a JSON-like value (event data)."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {k: self.mask_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_data(v) for v in value]
        return value

    def unfinished_tail(self, data: bytes) -> int:
        """How many bytes at the end of `data` could be the start of a secret."""
        window = data[-(self.longest - 1) :] if self.longest > 1 else b""
        longest = 0
        for secret in self._secrets:
            first = secret[:1]
            at = window.find(first)
            while at != -1 and len(window) - at > longest:
                size = len(window) - at
                if size < len(secret) and secret.startswith(window[at:]):
                    longest = size
                    break
                at = window.find(first, at + 1)
        return longest


class StreamMasker:
    """Masks a byte stream that arrives in chunks cut anywhere."""

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self._pending = b""

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def feed(self, chunk: bytes) -> bytes:
        data = self._pending + chunk
        if not self.masker:
            self._pending = b""
            return data
        cut = len(data) - self.masker.unfinished_tail(data)
        out: list[bytes] = []
        position = 0
        for start, end, replacement in self.masker.matches(data):
            if end > cut:  # a secret across the cut is held back whole
                cut = min(cut, start)
                break
            out += (data[position:start], replacement)
            position = end
        out.append(data[position:cut])
        self._pending = data[cut:]
        return b"".join(out)

    def flush(self) -> bytes:
        """Everything held back: at the end of the stream, or when it has gone quiet (a
        secret's beginning followed by silence is not the secret)."""
        data, self._pending = self._pending, b""
        return self.masker.mask_bytes(data)
