"""Validation errors say what is expected in words, never as a regular expression."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from deployd.protocol.apps import AppsCreateParams, LogsReadParams
from deployd.protocol.common import PATTERN_WORDS, explain
from deployd.protocol.methods import METHODS


def _patterns(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                found.add(value)
            else:
                found |= _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= _patterns(item)
    return found


def test_every_pattern_of_the_protocol_has_words() -> None:
    used: set[str] = set()
    for method in METHODS.values():
        used |= _patterns(method.params.model_json_schema())
    assert used, "no pattern found: the walk is broken"
    assert used <= set(PATTERN_WORDS), sorted(used - set(PATTERN_WORDS))


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        (
            AppsCreateParams,
            {"name": "My_App", "path": "/srv"},
            "name: must be lowercase letters, digits and dashes, starting with a letter",
        ),
        (LogsReadParams, {"app": "shop", "since": "5x"}, "since: must be a span such as 90s"),
        (LogsReadParams, {"app": "shop", "process": "web..1"}, "process: must be a process type"),
    ],
)
def test_a_refusal_reads_as_words(model: Any, data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    said = explain(caught.value)
    assert said.startswith(expected), said
    assert "^" not in said and "[a-z" not in said and json.dumps(said)
