"""A private repository is fetched with the token by the app's own (unprivileged) account,
and the token is on no command line, in no environment, in no file of the clone and in no
file left behind; the askpass program answers only for the token's host."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deployd.sources import git_askpass
from deployd.sources.git import GitError, Repo, clone_mirror, fetch, resolve
from deployd.sources.git_askpass import AskpassError, askpass
from deployd.unix import accounts
from deployd.unix.accounts import Account
from tests.support.daemon import world_readable_tempdir
from tests.support.github_standin import GitHubStandIn
from tests.support.unix_users import unix_user
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs git as another account")

MAX_BYTES = 100 * 1024 * 1024


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[GitHubStandIn]:
    with GitHubStandIn(tmp_path / "github") as standin:
        standin.add_org("acme", members=["octocat"])
        standin.add_repo("acme/secret", private=True, files={"app.py": "print('hi')\n"})
        yield standin
        assert standin.internal_errors == []


@pytest.fixture
def base() -> Iterator[Path]:
    path = world_readable_tempdir("deployd-askpass-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fetcher() -> Iterator[Account]:
    with unix_user("dta") as user:
        account = accounts.lookup(user.pw_name)
        assert account is not None and account.switch
        yield account


def empty_dir(path: Path, account: Account) -> str:
    path.mkdir()
    os.chown(path, account.uid, account.gid)
    return str(path)


@dataclass
class ProcWatch:
    """Reads every process's argv and environment while git runs, looking for the token."""

    secret: bytes
    found: list[str] = field(default_factory=list)
    gits: set[int] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in (p for p in os.listdir("/proc") if p.isdigit()):
                for part in ("cmdline", "environ"):
                    try:
                        data = Path(f"/proc/{pid}/{part}").read_bytes()
                    except OSError:
                        continue
                    if self.secret in data:
                        self.found.append(f"{pid} {part}")
                    if part == "cmdline" and data.startswith(b"git\0"):
                        self.gits.add(int(pid))


@pytest.fixture
def watch(gh: GitHubStandIn) -> Iterator[ProcWatch]:
    token = gh.issue_token("octocat")
    watcher = ProcWatch(token.encode())
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    yield watcher
    watcher.stop.set()
    thread.join(10)


def every_byte(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@pytest.mark.asyncio
async def test_a_private_repository_is_fetched_with_the_token_and_only_with_it(
    gh: GitHubStandIn, base: Path, fetcher: Account, watch: ProcWatch
) -> None:
    token, url = watch.secret.decode(), gh.clone_url("acme/secret")
    passes = base / "askpass"
    refused = empty_dir(base / "refused", fetcher)
    with pytest.raises(GitError):
        await clone_mirror(url, refused, fetcher, 60, MAX_BYTES)

    mirror = empty_dir(base / "mirror", fetcher)
    with askpass(token, url, fetcher, passes) as env:
        assert token not in str(env)
        await clone_mirror(url, mirror, fetcher, 60, MAX_BYTES, env=env)
    assert await resolve(Repo.mirror(mirror, fetcher), "main") == gh.sha("acme/secret", "main")

    pushed = gh.push("acme/secret", "main", {"app.py": "print(2)\n"})
    with askpass(token, url, fetcher, passes) as env:
        await fetch(Repo.mirror(mirror, fetcher).with_env(env), 60, MAX_BYTES)
    assert await resolve(Repo.mirror(mirror, fetcher), "main") == pushed

    assert watch.gits and watch.found == []  # git ran, and never with the token in sight
    assert list(passes.iterdir()) == []
    config = (Path(mirror) / "config").read_text()
    assert f"url = {url}" in config and token not in config
    assert watch.secret not in every_byte(Path(mirror))
    private = [r for r in gh.git_requests if r.repo == "acme/secret"]
    assert {r.status for r in private if not r.authorization_sent} == {401}
    sent = [r for r in private if r.authorization_sent]
    assert sent and all(r.login == "octocat" and r.status == 200 for r in sent)

    # and the watch would have seen it: a process with the token in its argv is found
    subprocess.run(["sh", "-c", "sleep 0.5", token], check=True, timeout=10)
    wait_for(lambda: watch.found)


@pytest.mark.asyncio
async def test_the_askpass_answers_only_for_the_tokens_host(
    gh: GitHubStandIn, base: Path, fetcher: Account, watch: ProcWatch
) -> None:
    token, url = watch.secret.decode(), gh.clone_url("acme/secret")
    elsewhere = url.replace("127.0.0.1", "localhost")  # the same server, by another name
    mirror = empty_dir(base / "mirror", fetcher)
    with askpass(token, elsewhere, fetcher, base / "askpass") as env, pytest.raises(GitError):
        await clone_mirror(url, mirror, fetcher, 60, MAX_BYTES, env=env)
    assert not any(r.authorization_sent for r in gh.git_requests)
    assert watch.found == []


def run_as(account: Account, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        user=account.uid,
        group=account.gid,
        extra_groups=[],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_only_the_account_reads_the_token_and_nothing_outlives_the_fetch(
    base: Path, fetcher: Account
) -> None:
    token, url = "ghu_" + "S" * 36, "https://github.example.com/acme/app.git"
    passes = base / "askpass"
    with unix_user("dtb") as other_user:
        other = accounts.lookup(other_user.pw_name)
        assert other is not None
        with (
            pytest.raises(RuntimeError, match="the fetch failed"),
            askpass(token, url, fetcher, passes) as env,
        ):
            program = Path(env["GIT_ASKPASS"])
            [made] = passes.iterdir()
            assert program.parent == made
            keyfile = made / git_askpass.KEYFILE
            place, script, key = made.stat(), program.stat(), keyfile.stat()
            assert (place.st_uid, place.st_gid, stat.S_IMODE(place.st_mode)) == (
                0,
                fetcher.gid,
                0o710,
            )
            assert (script.st_uid, stat.S_IMODE(script.st_mode)) == (fetcher.uid, 0o500)
            assert (key.st_uid, stat.S_IMODE(key.st_mode)) == (fetcher.uid, 0o400)
            assert token not in program.read_text()

            asked = run_as(
                fetcher, str(program), "Password for 'https://x-access-token@github.example.com': "
            )
            assert (asked.returncode, asked.stdout, asked.stderr) == (0, token + "\n", "")
            user = run_as(fetcher, str(program), "Username for 'https://github.example.com': ")
            assert user.stdout == "x-access-token\n"
            for wrong in (
                "Password for 'https://x-access-token@github.example.com.evil.net': ",
                "Password for 'http://x-access-token@github.example.com': ",
                "Password for 'https://x-access-token@evil.net': ",
                "Are you sure you want to continue connecting (yes/no)? ",
            ):
                refused = run_as(fetcher, str(program), wrong)
                assert (refused.returncode, refused.stdout, refused.stderr) == (1, "", "")
            with_path = run_as(
                fetcher,
                str(program),
                "Password for 'https://x-access-token@github.example.com/acme/app.git': ",
            )
            assert with_path.stdout == token + "\n"

            assert run_as(other, "cat", str(keyfile)).returncode != 0
            assert run_as(other, "ls", str(made)).returncode != 0
            assert run_as(fetcher, "ls", str(made)).returncode != 0  # reach by name, not list
            assert run_as(fetcher, "touch", str(made / "planted")).returncode != 0
            raise RuntimeError("the fetch failed")
    assert list(passes.iterdir()) == []


def test_bad_tokens_urls_and_directories_are_refused(base: Path, fetcher: Account) -> None:
    url = "https://github.example.com/acme/app.git"
    for token in ("", "a b", "line\nbreak", "é" * 4, "x" * 2000):
        with pytest.raises(AskpassError) as bad, askpass(token, url, fetcher, base / "a"):
            pass
        assert token not in str(bad.value) or not token
    for bad_url in ("ssh://github.com/a/b", "https://user:pw@github.com/a/b", "file:///srv/x"):
        with pytest.raises(AskpassError), askpass("ghp_x", bad_url, fetcher, base / "a"):
            pass
    (base / "a").mkdir()
    shared = base / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with (
        pytest.raises(AskpassError, match="writable by nobody else"),
        askpass("ghp_x", url, fetcher, shared),
    ):
        pass
    (base / "link").symlink_to(base / "a")
    with pytest.raises(OSError), askpass("ghp_x", url, fetcher, base / "link"):
        pass
    assert list(shared.iterdir()) == [] and list((base / "a").iterdir()) == []
