"""Turning a ref into a build: fetch the source as one checked tar stream, read the
manifest from it, choose the runtime, and build (natively as the app's account, or with
the Docker Engine), unless that exact build exists already.

Who reads what: a local source (a `file://` repository or a `--path` directory) is read as
the Unix user who chose it, a network repository by the app's account into its mirror; the
daemon itself only reads the stream they produce (`sources.snapshot`), never a path inside
an app's or a deployer's tree.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from deployd.build import docker as docker_build
from deployd.build import native, steps
from deployd.build.artifacts import built_by, forget, image_of, is_built
from deployd.build.native import BuildError
from deployd.domain.errors import DomainError
from deployd.domain.lifecycle import JobStep, ReleaseStatus
from deployd.domain.manifest import Manifest, parse_manifest
from deployd.domain.runtimes import choose_runtime
from deployd.domain.sources import Limits, Snapshot, SourceError
from deployd.protocol.events import EventType
from deployd.runtime.docker import DockerUnavailable
from deployd.sources import git, git_askpass, local
from deployd.sources.capture import capture
from deployd.sources.github import GitHubError
from deployd.store import github as github_store
from deployd.store import releases as release_store
from deployd.store.apps import AppRow
from deployd.unix.accounts import Account, AccountError

if TYPE_CHECKING:
    from .pipeline import Job

from . import github as github_account
from .accounts import own_dir
from .platform import Platform


class DeployFailed(Exception):
    """Why a deploy or rollback did not go live, in words for the person who ran it."""


def artifact_dir(platform: Platform, app: str, build_key: str) -> Path:
    return platform.paths.app_dir(app) / "builds" / build_key


def limits(platform: Platform) -> Limits:
    settings = platform.settings
    return Limits(settings.max_source_size, settings.max_file_size, settings.max_source_files)


async def fetch_and_build(job: Job, config: dict[str, str]) -> tuple[Path, Manifest]:
    platform, release_id = job.platform, job.release_id
    assert release_id is not None, "a deploy's release is recorded before it fetches"
    account = await platform.accounts.prepare(job.name)
    tar = platform.paths.app_dir(job.name) / "tmp" / f"{release_id}.tar"
    tar.unlink(missing_ok=True)
    try:
        try:
            commit, snapshot = await _fetch(job, account, tar)
            manifest = read_manifest(
                snapshot, prefer_native=job.app.runtime in ("process", "systemd")
            )
            runtime = await _runtime_for(platform, job.app.runtime, manifest)
            digest = _build_args_digest(snapshot, config)
        except (DomainError, SourceError, git.GitError, AccountError) as exc:
            raise DeployFailed(str(exc)) from None
        if snapshot.text("Procfile") is None and manifest.web == NODE_WEB:
            await job.output("no Procfile: web runs `npm start`, as on Heroku")
        more = {t: n for t, n in manifest.formation.items() if n > (1 if t == "web" else 0)}
        if more:
            counts = ", ".join(f"{t}={n}" for t, n in sorted(more.items()))
            await job.output(
                f"app.json's formation asks for {counts}: this deployd runs one web process "
                "per release (more process types and counts are not there yet)"
            )
        build_key = f"{commit}-{manifest.build_fingerprint()}{digest}"
        artifact = artifact_dir(platform, job.name, build_key)
        await job.db(
            lambda c: release_store.update(
                c,
                release_id,
                commit=commit,
                build_key=build_key,
                manifest=manifest.to_json(),
                status=ReleaseStatus.BUILDING,
                runtime=runtime,
            )
        )
        if _reusable(artifact, account) and not await _image_gone(platform, artifact):
            await job.step(JobStep.BUILD, f"build cached: {commit[:12]} was built before")
        else:
            what = "Dockerfile" if manifest.builder == "docker" else manifest.stack or "Procfile"
            await job.step(JobStep.BUILD, f"building {commit[:12]} ({what}) as {account.name}")
            await _build(job, account, tar, snapshot, artifact, manifest, config)
        await job.db(lambda c: release_store.update(c, release_id, status=ReleaseStatus.BUILT))
        return artifact, manifest
    finally:
        tar.unlink(missing_ok=True)


def _reusable(artifact: Path, account: Account) -> bool:
    """A finished build, made by this app's account as it is now (or by the Engine)."""
    if not is_built(artifact):
        return False
    return image_of(artifact) is not None or built_by(artifact) == account.uid


def _build_args_digest(snapshot: Snapshot, config: dict[str, str]) -> str:
    """A Dockerfile's ARGs take config values, which then shape the image: a changed value
    is a different build."""
    dockerfile = snapshot.text("Dockerfile")
    if dockerfile is None:
        return ""
    args = docker_build.declared_args(dockerfile)
    used = sorted((k, v) for k, v in config.items() if k in args)
    if not used:
        return ""
    return "-" + hashlib.sha256(json.dumps(used).encode()).hexdigest()[:8]


async def _image_gone(platform: Platform, artifact: Path) -> bool:
    """A docker build whose image was removed behind our back is built again."""
    image = image_of(artifact)
    try:
        if image is None or await asyncio.to_thread(platform.docker.image_exists, image):
            return False
    except DockerUnavailable as exc:
        raise DeployFailed(f"build failed: {exc}") from None
    forget(artifact)
    await asyncio.to_thread(shutil.rmtree, artifact, ignore_errors=True)
    return True


async def _runtime_for(platform: Platform, setting: str, manifest: Manifest) -> str:
    docker_up = False
    if manifest.builder == "docker" or setting == "docker":
        docker_up = await asyncio.to_thread(platform.docker.engine_up)
    return choose_runtime(setting, manifest, docker_up=docker_up, systemd=platform.systemd_host)


async def _build(
    job: Job,
    account: Account,
    tar: Path,
    snapshot: Snapshot,
    artifact: Path,
    manifest: Manifest,
    config: dict[str, str],
) -> None:
    platform, settings = job.platform, job.platform.settings
    try:
        if manifest.builder == "docker":
            await docker_build.build(
                platform.docker.client(),
                tar,
                snapshot.text("Dockerfile") or "",
                artifact,
                tag=f"{platform.docker.repository(job.name)}:{job.number}",
                config=config,
                log=job.output,
            )
        else:
            await native.build(
                tar,
                snapshot,
                artifact,
                manifest,
                account=account,
                env=config,
                log=job.output,
                python=settings.python,
                pythons=settings.pythons,
                timeout=settings.build_timeout,
                max_file=settings.max_file_size,
                cache=platform.paths.app_dir(job.name) / "cache",
            )
    except (BuildError, DockerUnavailable, SourceError) as exc:
        raise DeployFailed(f"build failed: {exc}{job.last_output()}") from None


def source_reader(platform: Platform, app: AppRow) -> Account:
    """Whom an app's local source is read as: the Unix user who chose it (an app made
    before deployd recorded that is read as the daemon's own user)."""
    uid = app.source_uid
    return platform.accounts.caller(uid if uid is not None else os.geteuid())


async def _fetch(job: Job, account: Account, tar: Path) -> tuple[str, Snapshot]:
    """Take the source as a checked tar stream into `tar`; returns its commit (a content
    digest for a directory) and what the daemon knows of it."""
    platform, app, settings = job.platform, job.app, job.platform.settings
    ref: str | None = job.row.params.get("ref") or app.branch
    source: str = app.source

    async def take(argv: list[str], account: Account, env: dict[str, str]) -> Snapshot:
        ok = local.TAR_OK if app.source_kind == "path" else (0,)
        return await capture(
            argv,
            account,
            env=env,
            copy_to=tar,
            limits=limits(platform),
            timeout=settings.fetch_timeout,
            ok_codes=ok,
        )

    if app.source_kind == "path":
        reader = source_reader(platform, app)
        await job.step(JobStep.FETCH, f"copying {source} as {reader.name}")
        snapshot = await take(local.tar_argv(source), reader, local.env())
        return "dir-" + snapshot.digest[:32], snapshot
    await job.step(JobStep.FETCH, f"fetching {ref or 'the default branch'} from {source}")
    if git.is_local(source):
        repo = git.Repo.local(source, source_reader(platform, app))
    elif await _from_github(platform, job.name, source):
        repo = await _github_mirror(platform, job.name, source)
    else:
        repo = await _mirror(platform, job.name, source, account)
    if ref is None:
        ref = await git.default_branch(repo)
    commit = await git.resolve(repo, ref)
    await job.output(f"{ref} is {commit}")
    snapshot = await take(git.archive_argv(repo, commit), repo.account, repo.env())
    return commit, snapshot


async def _mirror(platform: Platform, app: str, url: str, account: Account) -> git.Repo:
    """The app's mirror of a network repository, brought up to date by the app's account;
    one that is not the account's own (made by an older deployd) or not a repository is
    made again."""
    settings = platform.settings
    path = platform.paths.app_dir(app) / "repo.git"
    repo = git.Repo.mirror(str(path), account)
    timeout, size = settings.fetch_timeout, settings.max_source_size
    if _owned_dir(path, account) and await git.is_repository(repo):
        await git.fetch(repo, timeout, size)
        return repo
    await asyncio.to_thread(_fresh_mirror_dir, path, account)
    await git.clone_mirror(url, str(path), account, timeout, size)
    return repo


async def _from_github(platform: Platform, app: str, url: str) -> bool:
    """The app follows a GitHub repository (`github connect`) and this is its URL."""
    async with platform.pool.connection() as conn:
        connection = await github_store.connection(conn, app)
    return connection is not None and url.startswith(platform.settings.github_url + "/")


def github_mirror(platform: Platform, app: str) -> Path:
    """Where the mirror of an app's GitHub repository is kept (by the fetch account)."""
    return platform.paths.data_dir / "github" / f"{app}.git"


async def _github_mirror(platform: Platform, app: str, url: str) -> git.Repo:
    """The mirror of a GitHub repository, fetched with the account's token by deployd's
    fetch account (never the app's: it could read the token while git runs), in a
    directory of that account's that no app can enter."""
    settings = platform.settings
    fetcher = await platform.accounts.fetcher()
    path = github_mirror(platform, app)
    await asyncio.to_thread(own_dir, path.parent, 0o711)  # crossed by the fetcher, not listed
    repo = git.Repo.mirror(str(path), fetcher)
    timeout, size = settings.fetch_timeout, settings.max_source_size
    try:
        secret = await github_account.token(platform)
    except GitHubError as exc:
        raise DeployFailed(f"cannot fetch {url} from GitHub: {exc}") from None
    try:
        with git_askpass.askpass(secret, url, fetcher, platform.paths.run_dir / "askpass") as env:
            if _owned_dir(path, fetcher) and await git.is_repository(repo):
                await git.fetch(repo.with_env(env), timeout, size)
            else:
                await asyncio.to_thread(_fresh_mirror_dir, path, fetcher)
                await git.clone_mirror(url, str(path), fetcher, timeout, size, env=env)
    except git_askpass.AskpassError as exc:
        raise DeployFailed(f"cannot fetch {url} from GitHub: {exc}") from None
    return repo


def _owned_dir(path: Path, account: Account) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == account.uid


def _fresh_mirror_dir(path: Path, account: Account) -> None:
    shutil.rmtree(path, ignore_errors=True)  # the entry is in the daemon's directory
    path.mkdir(mode=0o700)
    if account.owner is not None:
        os.chown(path, *account.owner, follow_symlinks=False)


NODE_WEB = "npm start"
"""Heroku's web command for a Node app without a Procfile."""


def read_manifest(snapshot: Snapshot, *, prefer_native: bool = False) -> Manifest:
    stack = native.detect_stack(snapshot)
    procfile = snapshot.text("Procfile")
    if procfile is None and stack == "node" and not snapshot.has("Dockerfile"):
        try:
            starts = "start" in steps.node_scripts(snapshot) or snapshot.has("server.js")
        except steps.PlanError as exc:
            raise SourceError(str(exc)) from None
        procfile = f"web: {NODE_WEB}\n" if starts else None
    return parse_manifest(
        procfile,
        snapshot.text("deployd.toml"),
        stack,
        dockerfile=snapshot.has("Dockerfile"),
        prefer_native=prefer_native,
        app_json=snapshot.text("app.json"),
    )


async def tag_image(platform: Platform, app: str, release: int, artifact: Path) -> None:
    """A docker release's image also carries the release's tag (cache hits, config
    releases and rollbacks reuse an image built for an earlier release)."""
    image = image_of(artifact)
    if image is not None:
        try:
            await asyncio.to_thread(platform.docker.tag, image, app, release)
        except Exception as exc:  # a tag is for people; a missing one stops nothing
            await platform.emit(EventType.DEPLOY_WARNING, f"could not tag the image: {exc}", app)
