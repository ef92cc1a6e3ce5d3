"""Every app's masker, in memory: the event bus, the job runner, the audit log and the
daemon's own log read it synchronously on every message; `appconfig` replaces an app's
masker whenever its config changes."""

from __future__ import annotations

import logging

from deployd.domain.masking import Masker


class Masks:
    def __init__(self) -> None:
        self._apps: dict[str, Masker] = {}
        self._all = Masker()

    def set(self, maskers: dict[str, Masker]) -> None:
        """Replace the maskers of these apps (the union of all is built once)."""
        self._apps.update(maskers)
        self._all = Masker.union(self._apps.values())

    def drop(self, app: str) -> None:
        if self._apps.pop(app, None) is not None:
            self._all = Masker.union(self._apps.values())

    def for_app(self, app: str | None) -> Masker:
        """The app's masker; with no app, every app's secrets at once."""
        if app is None:
            return self._all
        return self._apps.get(app) or Masker()

    def mask(self, app: str | None, text: str) -> str:
        return self.for_app(app).mask(text)


class MaskingFormatter(logging.Formatter):
    """Wraps the daemon's log format: a secret that reaches a log message or a traceback
    is masked before it is written."""

    def __init__(self, inner: logging.Formatter, masks: Masks) -> None:
        super().__init__()
        self.inner = inner
        self.masks = masks

    def format(self, record: logging.LogRecord) -> str:
        return self.masks.mask(None, self.inner.format(record))
