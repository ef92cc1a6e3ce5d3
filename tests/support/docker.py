"""A real Docker Engine for the docker runtime's tests, and the one base image they use.

Nothing can be pulled here, so the base image is made from a root filesystem of our own:
Debian's static busybox and its applets, imported with `docker import`.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import docker
import docker.errors

BASE_IMAGE = "deployd-test/busybox:latest"
APPLETS = ("sh", "httpd", "echo", "cat", "env", "sleep", "ls", "mkdir", "chmod", "true", "false")


def engine() -> docker.DockerClient | None:
    try:
        client = docker.from_env(version="auto")
        client.ping()
        return client
    except docker.errors.DockerException:
        return None


def ensure_base_image(client: docker.DockerClient) -> str:
    """The busybox image (made once per Engine); returns its name."""
    return _imported(client, BASE_IMAGE, [])


PSQL_IMAGE = "deployd-test/busybox-psql:latest"


def ensure_psql_image(client: docker.DockerClient) -> str:
    """The busybox image with the host's own psql and the libraries it links (made once
    per Engine): a container app that talks to PostgreSQL, with nothing pulled."""
    psql = next(Path("/usr/lib/postgresql").glob("*/bin/psql"))
    linked = subprocess.run(["ldd", str(psql)], capture_output=True, text=True, check=True)
    files = [psql]
    for line in linked.stdout.splitlines():
        found = re.search(r"(/\S+) \(0x", line)
        if found:
            files.append(Path(found[1]))
    return _imported(client, PSQL_IMAGE, files)


def _imported(client: docker.DockerClient, image: str, files: list[Path]) -> str:
    """`image`, imported from busybox and `files` (at their own paths, links resolved)
    unless the Engine has it."""
    try:
        client.images.get(image)
        return image
    except docker.errors.ImageNotFound:
        pass
    busybox = Path(shutil.which("busybox") or "/bin/busybox")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for path in files:
            tar.add(path.resolve(), str(path).lstrip("/"))
        if files:
            tar.add(files[0].resolve(), "bin/" + files[0].name)
        for directory in ("bin", "tmp", "etc", "www"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = (
                tarfile.DIRTYPE,
                0o1777 if directory == "tmp" else 0o755,
                time.time(),
            )
            tar.addfile(info)
        tar.add(busybox, "bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    repository, tag = image.split(":")
    client.api.import_image_from_data(data.getvalue(), repository=repository, tag=tag)
    return image
