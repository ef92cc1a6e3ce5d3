"""Hiding secret values in text that leaves the vault: logs, events, errors, audit entries.

Every value of an app's config at least `MIN_SECRET_LENGTH` characters long is a secret,
and so is every line of a multi-line value that is (a PEM key printed line by line must not
leak either). A match becomes `[masked:NAME]`, which says what was there without saying it.

Speed: a log stream is scanned once per secret with `bytes.__contains__` (a C loop that runs
at several GB/s); only the secrets actually present go into a regular expression. A single
regular expression over all secrets would do one pass, but Python's engine tries every
alternative at every position and is about 20 times slower (bench/masking.py).

`StreamMasker` masks a stream cut into arbitrary chunks: it holds back only the end of the
text that could still be the beginning of a secret, so a secret split across two chunks is
masked whole and ordinary output is never delayed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MIN_SECRET_LENGTH = 6


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
        self._names = secret_parts(values.items() if isinstance(values, Mapping) else values)
        # Longest first, so that a secret containing another one is masked whole.
        self._secrets = sorted(self._names, key=len, reverse=True)
        self._patterns: dict[tuple[bytes, ...], re.Pattern[bytes]] = {}
        self.longest = len(self._secrets[0]) if self._secrets else 0

    def __bool__(self) -> bool:
        return bool(self._secrets)

    @classmethod
    def union(cls, maskers: Iterable[Masker]) -> Masker:
        merged = cls()
        for masker in maskers:
            for secret, name in masker._names.items():
                merged._names.setdefault(secret, name)
        merged._secrets = sorted(merged._names, key=len, reverse=True)
        merged.longest = len(merged._secrets[0]) if merged._secrets else 0
        return merged

    def mask_bytes(self, data: bytes) -> bytes:
        present = tuple(s for s in self._secrets if s in data)
        if not present:
            return data
        pattern = self._patterns.get(present)
        if pattern is None:
            pattern = re.compile(b"|".join(re.escape(s) for s in present))
            if len(self._patterns) < 256:
                self._patterns[present] = pattern
        return pattern.sub(lambda m: b"[masked:%s]" % self._names[m[0]].encode(), data)

    def mask(self, text: str) -> str:
        if not self._secrets or not text:
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
        longest = 0
        for secret in self._secrets:
            for size in range(min(len(secret) - 1, len(data)), longest, -1):
                if data.endswith(secret[:size]):
                    longest = size
                    break
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
        # A whole secret that straddles the cut is held back entirely, to be matched whole.
        moved = True
        while moved:
            moved = False
            for secret in self.masker._secrets:
                start = data.find(secret, max(0, cut - len(secret) + 1), cut + len(secret) - 1)
                if 0 <= start < cut:
                    cut, moved = start, True
        self._pending = data[cut:]
        return self.masker.mask_bytes(data[:cut])

    def flush(self) -> bytes:
        """Everything held back: at the end of the stream, or when it has gone quiet (a
        secret's beginning followed by silence is not the secret)."""
        data, self._pending = self._pending, b""
        return self.masker.mask_bytes(data)
