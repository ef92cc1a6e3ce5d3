"""A slot's env file gives back exactly what was put in it."""

from __future__ import annotations

import io

from dotenv import dotenv_values
from hypothesis import given
from hypothesis import strategies as st

from deployd.domain.envfile import parse, render

names = st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True)
values = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]))


@given(st.dictionaries(names, values, max_size=8))
def test_any_value_without_nul_survives_the_round_trip(app: dict[str, str]) -> None:
    platform = {"PORT": "20000", "PATH": "/usr/bin"}
    assert parse(render(platform, app, "header")) == (platform, app)


def test_awkward_values_round_trip_and_read_the_same_with_dotenv() -> None:
    app = {
        "MULTI": "line one\nline two\r\n",
        "QUOTES": 'it\'s "quoted" \\ back',
        "DOLLAR": "$HOME ${PATH} $(id) `id`",
        "EQUALS": "a=b=c",
        "UNICODE": "ünïcødé ☃ \u2028 \x0b",
        "BIG": "x" * 65536,
    }
    text = render({"PORT": "1"}, app, "test")
    assert parse(text)[1] == app
    read = dotenv_values(stream=io.StringIO(text), interpolate=False)
    assert {k: read[k] for k in app} == app
