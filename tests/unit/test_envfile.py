"""A slot's env file gives back exactly what was put in it."""

from __future__ import annotations

import io

import pytest
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


def test_an_import_refuses_lines_that_are_not_assignments_naming_lines_not_values() -> None:
    from deployd.protocol.env import dotenv_assignments

    text = 'this is not dotenv\nFOO=bar\n=s3cret-oops\nPASS="s3cret unterminated\nLATER=1\n'
    with pytest.raises(ValueError, match=r"^lines 1, 3, 4 are not NAME=value") as refused:
        dotenv_assignments(text)
    assert "s3cret" not in str(refused.value)
    for pasted in ("A=1\nsupersecretpassword123\n", "abcSECRETxyz==\n", "LONE\n"):
        with pytest.raises(ValueError, match=r"^line \d is not NAME=value") as refused:
            dotenv_assignments(pasted)  # a bare token, a base64 key, a lower-case name
        assert "secret" not in str(refused.value).lower() and "LONE" not in str(refused.value)
    assert dotenv_assignments("# only\nexport A='x y'\nB=\n") == {"A": "x y", "B": ""}


def test_an_event_names_at_most_ten_variables_and_counts_the_rest() -> None:
    from deployd.services.env import _named

    names = tuple(f"VAR_{n}" for n in range(15000))
    said = _named(names, ("OLD",))
    assert said.startswith("set VAR_0, set VAR_1,") and said.endswith(", and 14991 more")
    assert len(said) < 200
    assert _named(("A",), ("B",)) == "set A, unset B"
