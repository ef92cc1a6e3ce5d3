"""S3-compatible storage through boto3: put a file (multipart for large ones), check it
arrived whole, fetch it back, delete it. Errors come out as StorageError in words, never
with the keys in them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TRANSFER = TransferConfig(multipart_threshold=64 * 1024**2, multipart_chunksize=64 * 1024**2)


class StorageError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Bucket:
    endpoint: str
    name: str
    region: str
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"Bucket({self.endpoint!r}, {self.name!r})"

    def _client(self) -> S3Client:
        client: S3Client = boto3.session.Session().client(  # sessions are not thread-safe
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )
        return client

    def put(self, source: Path, key: str) -> int:
        """Upload `source` as `key`; returns the size the storage reports, which must be
        the file's."""
        size = source.stat().st_size
        try:
            client = self._client()
            client.upload_file(str(source), self.name, key, Config=TRANSFER)
            stored = client.head_object(Bucket=self.name, Key=key)["ContentLength"]
        except (Boto3Error, BotoCoreError, ClientError, OSError) as exc:
            raise StorageError(_words(exc, self)) from None
        if stored != size:
            raise StorageError(f"the storage holds {stored} bytes of {key}, not {size}")
        return size

    def get(self, key: str, target: Path) -> None:
        try:
            self._client().download_file(self.name, key, str(target), Config=TRANSFER)
        except (Boto3Error, BotoCoreError, ClientError, OSError) as exc:
            raise StorageError(_words(exc, self)) from None

    def delete(self, key: str) -> None:
        try:
            self._client().delete_object(Bucket=self.name, Key=key)
        except (Boto3Error, BotoCoreError, ClientError) as exc:
            raise StorageError(_words(exc, self)) from None


def _words(exc: BaseException, bucket: Bucket) -> str:
    if isinstance(exc, ClientError):
        error: Any = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        return f"{bucket.endpoint} refused ({code}{': ' + message if message else ''})"
    said = str(exc).replace(bucket.secret_access_key, "[masked]")
    if isinstance(exc, Boto3Error) and "An error occurred " in said:  # a failed transfer
        return f"{bucket.endpoint} refused {said.split('An error occurred ', 1)[1]}"
    return f"{bucket.endpoint} could not be reached: {said}"
