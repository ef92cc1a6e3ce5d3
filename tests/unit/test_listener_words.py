"""What a port's unidentified listener is called: root that cannot see whose socket it is
(no CAP_SYS_PTRACE, as in a container) must not blame "another user"."""

from __future__ import annotations

import os

import pytest

from deployd.runtime.listeners import Listener


def test_unprivileged_daemon_names_another_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert Listener(None).describe() == "a process of another user"


def test_root_names_the_missing_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "CAP_SYS_PTRACE" in Listener(None).describe()
