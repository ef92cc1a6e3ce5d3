"""Where self-update finds versions: a git repository's tags and a package index's wheels
(served here by a real HTTP server on loopback); and the layout it switches between."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployd.upgrade import sources
from deployd.upgrade.layout import Installation
from tests.support.repos import git


def test_the_tags_of_a_git_repository_are_its_versions(tmp_path: Path) -> None:
    work = tmp_path / "deployd"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    (work / "README").write_text("x")
    git(work, "add", "README")
    git(work, "commit", "--quiet", "-m", "one")
    for tag in ("v0.1.0", "v0.2.0", "0.3.0rc1", "release-candidate"):
        git(work, "tag", tag)
    offered = sources.offered(f"file://{work}")
    url = f"file://{work}"
    assert offered == {
        "0.1.0": sources.Offer(url, "v0.1.0"),
        "0.2.0": sources.Offer(url, "v0.2.0"),
        "0.3.0rc1": sources.Offer(url, "0.3.0rc1"),
    }


def test_an_unreachable_repository_says_so(tmp_path: Path) -> None:
    with pytest.raises(sources.SourceError, match="could not list the tags"):
        sources.offered(f"file://{tmp_path}/missing.git")
    with pytest.raises(sources.SourceError, match="not a URL"):
        sources.offered("/srv/deployd.git; rm -rf /")


@pytest.fixture
def index(tmp_path: Path) -> Iterator[str]:
    page = tmp_path / "simple" / "deployd"
    page.mkdir(parents=True)
    (page / "index.html").write_text(
        "<html><body>"
        '<a href="../../files/deployd-0.1.0-py3-none-any.whl#sha256=00">deployd-0.1.0</a>'
        '<a href="https://files.example/deployd-0.2.0-py3-none-any.whl">deployd-0.2.0</a>'
        '<a href="deployd-0.2.1.tar.gz">an sdist</a>'
        '<a href="deployd_evil-9.0-py3-none-any.whl">another project</a>'
        '<a href="file:///srv/deployd-0.9.0-py3-none-any.whl">a file of this host</a>'
        "</body></html>"
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()


def test_the_wheels_of_an_index_are_its_versions_installed_by_their_own_url(index: str) -> None:
    base = index.removesuffix("/simple/")
    assert sources.offered(index) == {
        "0.1.0": sources.Offer(f"{base}/files/deployd-0.1.0-py3-none-any.whl#sha256=00"),
        "0.2.0": sources.Offer("https://files.example/deployd-0.2.0-py3-none-any.whl"),
    }


def test_current_moves_in_one_rename_and_only_to_an_installed_version(tmp_path: Path) -> None:
    layout = Installation(tmp_path)
    for version in ("0.1.0", "0.2.0"):
        (layout.venv(version) / "bin").mkdir(parents=True)
        (layout.venv(version) / ".installed").write_text(version)
    (layout.versions / "0.3.0").mkdir()  # half made: not marked installed
    assert layout.installed() == ["0.1.0", "0.2.0"]
    layout.switch("0.1.0")
    layout.switch("0.2.0")
    assert layout.current_version() == "0.2.0"
    assert (layout.current / ".installed").read_text() == "0.2.0"
    with pytest.raises(FileNotFoundError):
        layout.switch("0.3.0")
    assert layout.current_version() == "0.2.0"
    with pytest.raises(ValueError, match="in use"):
        layout.remove("0.2.0")
    with pytest.raises(ValueError, match="not a version"):
        layout.venv("../../etc")
