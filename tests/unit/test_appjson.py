"""What deployd takes from app.json, and that everything else is ignored."""

from __future__ import annotations

import pytest

from deployd.domain.appjson import parse_app_json
from deployd.domain.errors import DomainError
from deployd.domain.manifest import parse_manifest


def test_scripts_formation_and_the_dokku_health_check_are_read() -> None:
    found = parse_app_json(
        """{"formation": {"web": {"quantity": 2}, "worker": {}},
            "scripts": {"postdeploy": "seed", "dokku": {"predeploy": "pre", "postdeploy": "post"}},
            "healthchecks": {"web": [{"type": "liveness"},
                                     {"path": "/up", "content": "ok", "timeout": 3,
                                      "attempts": 4, "wait": 2}]},
            "addons": ["heroku-postgresql"], "buildpacks": [{"url": "x"}], "stack": "heroku-24"}"""
    )
    assert found.formation == {"web": 2, "worker": 1}
    assert (found.first_postdeploy, found.predeploy, found.postdeploy) == ("seed", "pre", "post")
    assert found.health == {
        "path": "/up",
        "content": "ok",
        "interval": 2.0,
        "timeout": 20.0,
        "passes": 1,
    }


def test_deployd_toml_wins_over_app_json() -> None:
    manifest = parse_manifest(
        "web: run",
        '[health]\npath = "/health"\n',
        None,
        app_json='{"healthchecks": {"web": [{"path": "/up", "content": "ok"}]}}',
    )
    assert manifest.health.path == "/health" and manifest.health.content == "ok"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{nope", "app.json is not valid JSON"),
        ("[1, 2]", "must hold an object"),
        ('{"formation": {"web": {"quantity": -1}}}', "quantity must be 0 to 64"),
        ('{"formation": {"web": {"quantity": "2"}}}', "must be a whole number"),
        ('{"formation": {"we b": {}}}', "odd process type"),
        ('{"scripts": {"postdeploy": 5}}', "scripts.postdeploy must be a command"),
    ],
)
def test_a_bad_app_json_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(DomainError, match=message):
        parse_app_json(text)


def test_no_app_json_changes_nothing() -> None:
    assert parse_app_json(None).formation == {}
