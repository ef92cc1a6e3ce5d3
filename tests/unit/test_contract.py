"""The method table is complete and consistent."""

from __future__ import annotations

from deployd.protocol.common import Params, Role
from deployd.protocol.methods import METHODS
from deployd.rpc.handlers import HANDLERS, STREAM_HANDLERS


def test_every_method_has_exactly_one_handler() -> None:
    for name, method in METHODS.items():
        assert (name in HANDLERS) != (name in STREAM_HANDLERS), name
        assert (name in STREAM_HANDLERS) == method.stream, name


def test_names_are_noun_dot_verb_and_params_forbid_extras() -> None:
    for name, method in METHODS.items():
        noun, _, verb = name.partition(".")
        assert noun.isalpha() and verb.isalpha(), name
        assert issubclass(method.params, Params), name
        assert method.params.model_config.get("extra") == "forbid", name


def test_mutating_methods_name_their_target_and_read_methods_do_not_mutate() -> None:
    for method in METHODS.values():
        if method.mutating and method.target is not None:
            assert method.target in method.params.model_fields, method.name
        if method.name.endswith((".list", ".status", ".hello", ".verify")):
            assert not method.mutating, method.name


def test_user_management_needs_admin() -> None:
    for name in ("users.add", "users.remove", "audit.list", "audit.verify"):
        assert METHODS[name].role is Role.ADMIN


def test_the_runtimes_agree_everywhere() -> None:
    """protocol and domain may not import each other; the migration's CHECK is SQL."""
    import typing
    from pathlib import Path

    from deployd.domain.runtimes import RUNTIMES, SETTINGS
    from deployd.protocol.apps import Runtime

    assert set(typing.get_args(Runtime)) == set(SETTINGS)
    sql = (Path(__file__).resolve().parents[2] / "migrations" / "0005_runtimes.sql").read_text()
    for runtime in RUNTIMES:
        assert f"'{runtime}'" in sql
