"""Which interpreter an app asks for, decided from its files and the host's interpreters."""

from __future__ import annotations

import pytest

from deployd.domain.errors import DomainError
from deployd.domain.stacks import (
    check_node,
    choose_python,
    node_engine,
    python_request,
)

DEFAULT = ("/usr/bin/python3", (3, 11, 2))
OTHERS = [("/usr/bin/python3.12", (3, 12, 7)), ("/usr/local/bin/python3.13", (3, 13, 0))]


@pytest.mark.parametrize(
    ("files", "chosen", "source"),
    [
        ({}, "/usr/bin/python3", "the app asks for none"),
        ({"python_version": "3.12\n"}, "/usr/bin/python3.12", ".python-version (3.12)"),
        ({"python_version": "# pinned\n3.11\n"}, "/usr/bin/python3", ".python-version (3.11)"),
        ({"python_version": "3\n"}, "/usr/local/bin/python3.13", ".python-version (3)"),
        ({"runtime_txt": "python-3.11.9"}, "/usr/bin/python3", "runtime.txt (python-3.11.9)"),
        (
            {"pyproject": '[project]\nrequires-python = ">=3.12,<3.13"\n'},
            "/usr/bin/python3.12",
            "requires-python (>=3.12,<3.13)",
        ),
        (
            {"python_version": "3.13", "runtime_txt": "python-3.11.9"},
            "/usr/local/bin/python3.13",
            ".python-version",
        ),
        ({"pyproject": '[project]\nname = "x"\n'}, "/usr/bin/python3", "asks for none"),
    ],
)
def test_the_interpreter_is_the_one_the_app_asks_for(
    files: dict[str, str], chosen: str, source: str
) -> None:
    request = python_request(
        files.get("python_version"), files.get("runtime_txt"), files.get("pyproject")
    )
    path, why = choose_python(request, DEFAULT, OTHERS)
    assert path == chosen and source in why


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"python_version": "3.99\n"}, "asks for Python 3.99 (.python-version)"),
        ({"runtime_txt": "python-2.7.18"}, "asks for Python python-2.7.18 (runtime.txt)"),
        ({"pyproject": '[project]\nrequires-python = ">=4"\n'}, "asks for Python >=4"),
        ({"python_version": "latest please\x1b[2J"}, "is not a Python version"),
        ({"pyproject": '[project]\nrequires-python = "newest"\n'}, "not a version specifier"),
    ],
)
def test_a_python_the_host_lacks_is_one_clear_error(files: dict[str, str], message: str) -> None:
    with pytest.raises(DomainError) as caught:
        request = python_request(
            files.get("python_version"), files.get("runtime_txt"), files.get("pyproject")
        )
        choose_python(request, DEFAULT, OTHERS)
    assert message in str(caught.value)
    assert "\x1b" not in str(caught.value)


def test_node_engines_are_checked_against_the_installed_node() -> None:
    assert "matches" in check_node(node_engine('{"engines": {"node": ">=18 <21"}}'), "v20.20.2")
    assert "states no engines.node" in check_node(node_engine('{"name": "x"}'), "v20.20.2")
    assert "matches" in check_node(node_engine('{"engines": {"node": "18.x || 20.x"}}'), "v20.1.0")
    with pytest.raises(DomainError, match=r"asks for Node '\^22'.*has Node 20.20.2"):
        check_node(node_engine('{"engines": {"node": "^22"}}'), "v20.20.2")
    with pytest.raises(DomainError, match="not valid JSON"):
        node_engine("{nope")
