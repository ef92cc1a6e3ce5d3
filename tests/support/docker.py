"""A real Docker Engine for the docker runtime's tests, and the one base image they use.

Nothing can be pulled here, so the base image is made from a root filesystem of our own:
Debian's static busybox and its applets, imported with `docker import`.
"""

from __future__ import annotations

import io
import shutil
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
    try:
        client.images.get(BASE_IMAGE)
        return BASE_IMAGE
    except docker.errors.ImageNotFound:
        pass
    busybox = Path(shutil.which("busybox") or "/bin/busybox")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
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
    repository, tag = BASE_IMAGE.split(":")
    client.api.import_image_from_data(data.getvalue(), repository=repository, tag=tag)
    return BASE_IMAGE
