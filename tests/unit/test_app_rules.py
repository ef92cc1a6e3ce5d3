"""Names, URLs, refs, manifests, ports and retention: the pure rules of deploying."""

from __future__ import annotations

import pytest

from deployd.domain import apps
from deployd.domain.errors import DomainError
from deployd.domain.manifest import Manifest, parse_manifest, parse_procfile
from deployd.domain.ports import parse_range, pick_ports
from deployd.domain.retention import ReleaseRef, artifacts_to_prune, rollback_target


@pytest.mark.parametrize("name", ["a", "shop", "my-app-2", "x" * 32])
def test_good_app_names(name: str) -> None:
    assert apps.check_app_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "2app", "-x", "a_b", "x" * 33, "a b", "../x", "a.b"])
def test_bad_app_names(name: str) -> None:
    with pytest.raises(DomainError):
        apps.check_app_name(name)


@pytest.mark.parametrize(
    "url",
    [
        "file:///srv/git/shop.git",
        "https://github.com/o/r.git",
        "ssh://git@host:22/o/r.git",
        "git@github.com:o/r.git",
        "git://host/r",
    ],
)
def test_good_git_urls(url: str) -> None:
    assert apps.check_git_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c id",
        "-uhttps://x/y",
        "file://relative",
        "https://host/a/../../etc",
        "https://host/a b",
        "http://insecure/x",
        "file:///x;id",
        "https://host/$(id)",
        "",
    ],
)
def test_bad_git_urls(url: str) -> None:
    with pytest.raises(DomainError):
        apps.check_git_url(url)


@pytest.mark.parametrize("ref", ["main", "v1.2.3", "feature/x", "abc1234", "release-2026"])
def test_good_refs(ref: str) -> None:
    assert apps.check_ref(ref) == ref


@pytest.mark.parametrize(
    "ref", ["-x", "--upload-pack=x", "a..b", "a//b", "x.lock", "main@{1}", "a b", "", "x/", "x."]
)
def test_bad_refs(ref: str) -> None:
    with pytest.raises(DomainError):
        apps.check_ref(ref)


@pytest.mark.parametrize("path", ["relative", "/a/../b", "/a\x00b"])
def test_bad_source_paths(path: str) -> None:
    with pytest.raises(DomainError):
        apps.check_source_path(path)


def test_procfile() -> None:
    assert parse_procfile("# hi\nweb: python app.py\nrelease: ./migrate\n\n") == {
        "web": "python app.py",
        "release": "./migrate",
    }
    assert parse_procfile("worker: x\nWeb_2: y  # a comment for the shell") == {
        "worker": "x",
        "Web_2": "y  # a comment for the shell",
    }
    for bad, message in [
        ("release: ./migrate", "no process to run"),
        ("web python", "line 1"),
        ("web: a\nweb: b", "twice"),
        ("we b: x", "line 1"),
        ("-web: x", "line 1"),
    ]:
        with pytest.raises(DomainError, match=message):
            parse_procfile(bad)


def test_manifest_defaults_and_overrides() -> None:
    plain = parse_manifest("web: x", None, "python")
    assert plain.stack == "python" and plain.health.path == "/" and plain.release is None
    custom = parse_manifest(
        "web: x\nrelease: y",
        '[build]\ncommand = "make"\n[health]\npath = "/up"\npasses = 3\n[deploy]\ndrain = 0\n',
        None,
    )
    assert (
        custom.build_command,
        custom.health.path,
        custom.health.passes,
        custom.drain_seconds,
        custom.release,
    ) == ("make", "/up", 3, 0.0, "y")
    assert Manifest.from_json(custom.to_json()) == custom


def test_the_build_fingerprint_follows_what_decides_the_build() -> None:
    base = parse_manifest("web: x", None, "python")
    assert (
        base.build_fingerprint() == parse_manifest("web: other", None, "python").build_fingerprint()
    )
    assert base.build_fingerprint() != parse_manifest("web: x", None, "node").build_fingerprint()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[nope]\n", "unknown settings"),
        ("[health]\npath = 'x'\n", "health.path"),
        ("[health]\ntimeout = -1\n", "timeout"),
        ("[build]\ncommand = ''\n", "build.command"),
        ("[build]\nstack = 'cobol'\n", "stack"),
        ("not toml =", "deployd.toml"),
        ("[health]\npasses = true\n", "passes"),
    ],
)
def test_bad_manifests(toml: str, message: str) -> None:
    with pytest.raises(DomainError, match=message):
        parse_manifest("web: x", toml, None)


def test_port_ranges_and_picking() -> None:
    assert parse_range("20000-20009") == range(20000, 20010)
    for bad in ("80-90", "20000", "30000-20000", "1000-70000"):
        with pytest.raises(DomainError):
            parse_range(bad)
    candidates = range(20000, 20006)
    taken_by_others = {20001}
    assert pick_ports(candidates, [20000], lambda p: p not in taken_by_others) == [20002, 20003]
    with pytest.raises(DomainError, match="no free ports"):
        pick_ports(candidates, [20000, 20002, 20003, 20004, 20005], lambda p: True)


def test_retention_keeps_the_newest_five_successful_and_the_live_one() -> None:
    releases = [ReleaseRef(i, f"b{i}", succeeded=i != 9) for i in range(1, 11)]
    pruned = artifacts_to_prune(releases, live_release_id=2)
    assert pruned == {"b1", "b3", "b4", "b9"}
    shared = [
        ReleaseRef(1, "same", True),
        *[ReleaseRef(i, f"b{i}", True) for i in range(2, 8)],
        ReleaseRef(8, "same", True),
    ]
    assert "same" not in artifacts_to_prune(shared, live_release_id=8)


def test_rollback_target_is_the_newest_kept_release_before_the_live_one() -> None:
    releases = [ReleaseRef(i, f"b{i}", succeeded=i != 4) for i in range(1, 6)]
    assert rollback_target(releases, live_release_id=5) == releases[2]
    assert rollback_target(releases, live_release_id=3) == releases[1]
    assert rollback_target(releases[:1], live_release_id=1) is None
