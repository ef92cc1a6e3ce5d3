"""Turning a ref into a build: fetch the source, read the manifest, choose the runtime, and
build (natively, or with the Docker Engine), unless that exact build exists already."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from deployd.build import docker as docker_build
from deployd.build import native
from deployd.build.artifacts import image_of, is_built
from deployd.build.native import BuildError
from deployd.domain.errors import DomainError
from deployd.domain.manifest import Manifest, parse_manifest
from deployd.domain.runtimes import choose_runtime
from deployd.runtime.docker import DockerUnavailable
from deployd.sources import git, local
from deployd.store import releases as release_store

if TYPE_CHECKING:
    from .pipeline import Job

from .platform import Platform


class DeployFailed(Exception):
    """Why a deploy or rollback did not go live, in words for the person who ran it."""


def artifact_dir(platform: Platform, app: str, build_key: str) -> Path:
    return platform.paths.app_dir(app) / "builds" / build_key


async def fetch_and_build(job: Job, config: dict[str, str]) -> tuple[Path, Manifest]:
    platform = job.platform
    tmp = platform.paths.app_dir(job.name) / "tmp" / str(job.release_id)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        commit = await _fetch(job, tmp)
        try:
            manifest = read_manifest(
                tmp, prefer_native=job.app["runtime"] in ("process", "systemd")
            )
            runtime = await _runtime_for(platform, job.app["runtime"], manifest)
        except DomainError as exc:
            raise DeployFailed(str(exc)) from None
        build_key = f"{commit}-{manifest.build_fingerprint()}{_build_args_digest(tmp, config)}"
        artifact = artifact_dir(platform, job.name, build_key)
        await job.db(
            lambda c: release_store.update(
                c,
                job.release_id,
                commit=commit,
                build_key=build_key,
                manifest=manifest.to_json(),
                status="building",
                runtime=runtime,
            )
        )
        if is_built(artifact) and not await _image_gone(platform, artifact):
            await job.step("build", f"build cached: {commit[:12]} was built before")
        else:
            what = "Dockerfile" if manifest.builder == "docker" else manifest.stack or "Procfile"
            await job.step("build", f"building {commit[:12]} ({what})")
            await _build(job, tmp, artifact, manifest, config)
        await job.db(lambda c: release_store.update(c, job.release_id, status="built"))
        return artifact, manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _build_args_digest(source: Path, config: dict[str, str]) -> str:
    """A Dockerfile's ARGs take config values, which then shape the image: a changed value
    is a different build."""
    dockerfile = source / "Dockerfile"
    if not dockerfile.is_file():
        return ""
    args = docker_build.declared_args(dockerfile.read_text(errors="replace"))
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
    await asyncio.to_thread(shutil.rmtree, artifact, ignore_errors=True)
    return True


async def _runtime_for(platform: Platform, setting: str, manifest: Manifest) -> str:
    docker_up = False
    if manifest.builder == "docker" or setting == "docker":
        docker_up = await asyncio.to_thread(platform.docker.engine_up)
    return choose_runtime(setting, manifest, docker_up=docker_up, systemd=platform.systemd_host)


async def _build(
    job: Job, source: Path, artifact: Path, manifest: Manifest, config: dict[str, str]
) -> None:
    platform = job.platform
    try:
        if manifest.builder == "docker":
            await docker_build.build(
                platform.docker.client(),
                source,
                artifact,
                tag=f"{platform.docker.repository(job.name)}:{job.release_id}",
                config=config,
                log=job.output,
            )
        else:
            await native.build(
                source,
                artifact,
                manifest,
                account=platform.account,
                env=config,
                log=job.output,
                python=platform.settings.python,
            )
    except (BuildError, DockerUnavailable) as exc:
        raise DeployFailed(f"build failed: {exc}") from None


async def _fetch(job: Job, dest: Path) -> str:
    """Put the source in `dest`; returns its commit (or a content digest for a directory)."""
    app = job.app
    ref: str | None = job.row["params"].get("ref") or app["branch"]
    if app["source_kind"] == "path":
        await job.step("fetch", f"copying {app['source']}")
        try:
            commit = await asyncio.to_thread(local.copy_tree, Path(app["source"]), dest)
        except (local.SourceError, OSError) as exc:
            raise DeployFailed(f"cannot copy the source: {exc}") from None
        return commit
    await job.step("fetch", f"fetching {ref or 'the default branch'} from {app['source']}")
    mirror = job.platform.paths.app_dir(job.name) / "repo.git"
    try:
        await asyncio.to_thread(git.sync_mirror, app["source"], mirror)
        if ref is None:
            ref = await asyncio.to_thread(git.default_branch, mirror)
        commit = await asyncio.to_thread(git.resolve, mirror, ref)
        await asyncio.to_thread(git.export, mirror, commit, dest)
    except git.GitError as exc:
        raise DeployFailed(f"git: {exc}") from None
    await job.output(f"{ref} is {commit}")
    return commit


def read_manifest(source: Path, *, prefer_native: bool = False) -> Manifest:
    procfile = source / "Procfile"
    toml = source / "deployd.toml"
    return parse_manifest(
        procfile.read_text(errors="replace") if procfile.is_file() else None,
        toml.read_text(errors="replace") if toml.is_file() else None,
        native.detect_stack(source),
        dockerfile=(source / "Dockerfile").is_file(),
        prefer_native=prefer_native,
    )


async def tag_image(platform: Platform, app: str, release: int, artifact: Path) -> None:
    """A docker release's image also carries the release's tag (cache hits, config
    releases and rollbacks reuse an image built for an earlier release)."""
    image = image_of(artifact)
    if image is not None:
        try:
            await asyncio.to_thread(platform.docker.tag, image, app, release)
        except Exception as exc:  # a tag is for people; a missing one stops nothing
            await platform.emit("deploy.warning", f"could not tag the image: {exc}", app)
