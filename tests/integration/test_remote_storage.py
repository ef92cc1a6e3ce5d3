"""Remote storage as deployd uses it: age encrypts before a file leaves, the S3 API (a
local moto server) stores it, and unreachable or refusing storage says so in words
without the secret key."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from deployd.remote import crypt
from deployd.remote.s3 import Bucket, StorageError
from tests.support.daemon import free_port

SECRET = "s3cr3t-access-key-value"

# CI installs age and sets DEPLOYD_TEST_REQUIRE_ALL: there, its absence is a failure
pytestmark = pytest.mark.skipif(
    not shutil.which("age") and not os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"),
    reason="needs age (apt-get install age)",
)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="k", aws_secret_access_key=SECRET,
    ).create_bucket(Bucket="kept")  # fmt: skip
    try:
        yield url
    finally:
        server.stop()


def bucket(endpoint: str, name: str = "kept") -> Bucket:
    return Bucket(endpoint, name, "us-east-1", "k", SECRET)


def test_an_encrypted_file_goes_and_comes_back_whole(endpoint: str, tmp_path: Path) -> None:
    keys = crypt.generate()
    plain = tmp_path / "dump"
    plain.write_bytes(os.urandom(70 * 1024 * 1024))  # above the multipart threshold
    crypt.encrypt(plain, tmp_path / "dump.age", keys.recipient)
    size = bucket(endpoint).put(tmp_path / "dump.age", "db/1.dump.age")
    assert size == (tmp_path / "dump.age").stat().st_size
    bucket(endpoint).get("db/1.dump.age", tmp_path / "back.age")
    crypt.decrypt(tmp_path / "back.age", tmp_path / "back", keys.identity)
    assert (tmp_path / "back").read_bytes() == plain.read_bytes()
    with pytest.raises(crypt.CryptError, match="no identity matched"):
        crypt.decrypt(tmp_path / "back.age", tmp_path / "other", crypt.generate().identity)
    bucket(endpoint).delete("db/1.dump.age")
    with pytest.raises(StorageError, match="refused"):
        bucket(endpoint).get("db/1.dump.age", tmp_path / "gone.age")


def test_refusing_and_unreachable_storage_say_so_without_the_secret(
    endpoint: str, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"x" * 100)
    with pytest.raises(StorageError) as refused:
        bucket(endpoint, "no-such-bucket").put(tmp_path / "f", "k")
    assert "NoSuchBucket" in str(refused.value) and SECRET not in str(refused.value)
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StorageError) as unreachable:
        bucket(closed).put(tmp_path / "f", "k")
    assert "could not be reached" in str(unreachable.value)
    assert SECRET not in str(unreachable.value) and SECRET not in repr(bucket(closed))
