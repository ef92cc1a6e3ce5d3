"""Copies off the host are tried again: one that failed (the bucket was missing) is made
at its next due try, not before, and `db backups` says which try it was and when the next
is; a pruned backup whose copy the storage refused to delete keeps it recorded, with the
reason, and has it deleted at a later tick, after a back-off. Real S3 API (a local moto
server), age, PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

import boto3
import pytest
from moto.server import ThreadedMotoServer

from deployd.config import Settings
from deployd.domain.databases import COPY_ATTEMPTS
from deployd.engine import databases as engine
from deployd.engine import offsite
from deployd.monitor.backups import BackupScheduler
from deployd.services.databases import backup_info
from deployd.store import databases as store
from deployd.store import remote as remote_store
from deployd.store.cluster import PrivateCluster
from deployd.store.databases import BackupTrigger
from deployd.store.remote import CopyStatus
from tests.integration.test_backup_schedule import fill
from tests.support.daemon import free_port
from tests.support.databases import Stage, staged

pytestmark = pytest.mark.skipif(
    not shutil.which("age") and not os.environ.get("DEPLOYD_TEST_REQUIRE_ALL"),
    reason="needs age (apt-get install age)",
)
BUCKET = "late"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_a_failed_copy_is_made_at_its_next_try_and_a_failed_delete_is_done_later(
    fresh_db: str, apps_pg: PrivateCluster, endpoint: str
) -> None:
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="k", aws_secret_access_key="s",
    )  # fmt: skip

    def stored() -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]

    async def main() -> None:
        async with staged(fresh_db, apps_pg) as platform:
            stage = cast(Stage, platform)
            stage.settings = Settings(
                root=stage.settings.root, backup_s3_endpoint=endpoint, backup_s3_bucket=BUCKET
            )
            await offsite.set_keys(platform, "k", "s", "test")
            await engine.create(platform, "retried", "test")
            await fill(platform, "retried")
            backup = await engine.backup(platform, "retried", BackupTrigger.MANUAL, "test")
            async with platform.pool.connection() as conn:
                copy = (await remote_store.copies(conn, [backup.id]))[backup.id]
            assert copy.status is CopyStatus.FAILED and "NoSuchBucket" in (copy.error or "")
            failed_at = copy.finished_at or datetime.now(UTC)
            shown = backup_info(backup, copy)  # what `db backups` says
            assert (shown.remote, shown.remote_attempts, shown.remote_attempts_max) == (
                "failed",
                1,
                COPY_ATTEMPTS,
            )
            assert shown.remote_next_try_at == failed_at + timedelta(minutes=5)
            s3.create_bucket(Bucket=BUCKET)  # the storage is back

            clock = [failed_at + timedelta(minutes=2)]
            scheduler = BackupScheduler(platform, clock=lambda: clock[0])
            await scheduler.tick()
            assert stored() == []  # not due yet: five minutes after the failure
            clock[0] = failed_at + timedelta(minutes=6)
            await scheduler.tick()
            async with platform.pool.connection() as conn:
                copy = (await remote_store.copies(conn, [backup.id]))[backup.id]
            assert copy.status is CopyStatus.COPIED and copy.attempts == 2
            assert stored() == [f"deployd/retried/{backup.id}.dump.age"]

            good = stage.settings  # pruned while the storage refuses the deletion
            stage.settings = good.model_copy(update={"backup_s3_bucket": "elsewhere"})
            assert await offsite.delete(platform, backup) is False
            async with platform.pool.connection() as conn:
                await store.mark_deleted(conn, [backup.id])
                copy = (await remote_store.copies(conn, [backup.id]))[backup.id]
                pruned = await store.backup(conn, backup.id)
            assert copy.status is CopyStatus.COPIED and "NoSuchBucket" in (copy.error or "")
            assert pruned is not None and backup_info(pruned, copy).remote == "copied"
            await scheduler.tick()  # tried again at once, refused again: kept, tried later
            stage.settings = good  # the storage takes deletions again
            await scheduler.tick()
            assert stored() == [f"deployd/retried/{backup.id}.dump.age"]  # not due yet
            clock[0] += timedelta(minutes=6)
            await scheduler.tick()
            assert stored() == []
            async with platform.pool.connection() as conn:
                copy = (await remote_store.copies(conn, [backup.id]))[backup.id]
            assert copy.status is CopyStatus.DELETED and copy.error is None
            await platform.databases.drop("retried")

    asyncio.run(main())
