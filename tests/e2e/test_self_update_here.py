"""self-update where it cannot run: a daemon from a checkout (not install.sh's versioned
layout, no systemd) says so, in words, for --check and for an update, and changes nothing.
The update itself runs on an installed server: tests/host/test_self_update.py."""

from __future__ import annotations

import json

from tests.support.daemon import RunningDaemon


def test_a_daemon_not_installed_by_install_sh_says_it_cannot_update_itself(
    platform: RunningDaemon,
) -> None:
    check = platform.deployctl("self-update", "--check", "--json")
    assert check.returncode == 0, check.stderr
    said = json.loads(check.stdout)
    assert said["installed"] is False and "not from an installation made by install.sh" in (
        said["refusal"] or ""
    )
    refused = platform.deployctl("self-update")
    assert refused.returncode == 1
    assert "update it the way it was installed" in refused.stderr
    both = platform.deployctl("self-update", "--rollback", "--to", "1.0.0")
    assert both.returncode == 2
    status = json.loads(platform.deployctl("status", "--json").stdout)
    assert status["update"] is None and status["installed_versions"] == []
