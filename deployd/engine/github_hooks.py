"""GitHub's webhooks as the daemon takes them: which app a delivery is for, whether GitHub
signed it with that app's secret, what it asks, and a record of every one.

`receive` answers within a request: it checks and records, and leaves the work to
`advance` (the GitHub worker's pass), which starts the deploys the deliveries asked for,
makes and removes preview apps, and reports each deploy back to GitHub as a commit status
and a deployment. Everything `advance` has still to do is in the deliveries table, so a
daemon that stops at any point finishes it at its next pass.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from deployd.domain import github as rules
from deployd.domain.errors import DomainError
from deployd.domain.github import Action
from deployd.domain.lifecycle import JobKind, JobState
from deployd.domain.text import excerpt
from deployd.protocol.events import EventType
from deployd.protocol.github import MAX_HOOK_BODY_BYTES, HookDeliveryParams, HookVerdict
from deployd.sources.github import GitHubError
from deployd.store import github as store
from deployd.store import jobs as job_store
from deployd.store.github import ConnectionRow, DeliveryRow

from . import github as account
from . import previews
from .platform import Platform

log = logging.getLogger(__name__)

ACTOR = "github"
"""Who the deploys a webhook starts are by, in jobs, events and the audit log."""
REPORT_FOR = timedelta(hours=1)
"""How long a deploy's report to GitHub is tried again before it is given up."""
UNNAMED_HOOK_BYTES = 1024 * 1024
"""A delivery without X-GitHub-Hook-ID is tried against every connected app's secret only
up to this size (GitHub always names its hook)."""
MAX_SIZE = 2**31 - 1
"""A size as recorded (a Content-Length can claim anything)."""


@dataclass(frozen=True, slots=True)
class Received:
    status: int
    verdict: HookVerdict
    reason: str
    app: str | None = None
    job: int | None = None


class Notices:
    """Refusals of deliveries nobody signed are said at most once a minute, with how many
    there were: anyone on the internet can send them, and the events are for people."""

    EVERY = 60.0

    def __init__(self) -> None:
        self.last = -self.EVERY
        self.quiet = 0

    def due(self) -> int | None:
        """None: stay quiet; else how many were kept quiet before this one."""
        now = time.monotonic()
        if now - self.last < self.EVERY:
            self.quiet += 1
            return None
        said, self.last, self.quiet = self.quiet, now, 0
        return said


NOTICES = Notices()


async def receive(platform: Platform, hook: HookDeliveryParams) -> Received:
    """Check and record one delivery, and say so in an event; the deploy it asks for is
    started by `advance`."""
    received = await _receive(platform, hook)
    delivery = excerpt(hook.delivery, 64) or "without an id"
    if received.verdict is HookVerdict.REJECTED:
        quiet = NOTICES.due()
        if quiet is None:
            return received
        more = f" ({quiet} more refused in the minute before)" if quiet else ""
        kind = EventType.GITHUB_HOOK_REJECTED
        message = f"a webhook was refused: {received.reason}{more}"
    else:
        kind = EventType.GITHUB_DELIVERY
        message = f"webhook {excerpt(hook.event, 40)}: {received.verdict.value}, {received.reason}"
    await platform.bus.publish(
        kind,
        f"{message} (delivery {delivery})",
        app=received.app,
        actor=ACTOR,
        data={
            "delivery": hook.delivery,
            "event": hook.event,
            "verdict": received.verdict.value,
            "reason": received.reason,
        },
    )
    return received


async def _receive(platform: Platform, hook: HookDeliveryParams) -> Received:
    """Nothing of the body is read before a connected app's secret signs it: until then
    it is anybody's bytes. The signature is checked (and the JSON parsed) in a thread, so
    a large body never holds the daemon's loop."""
    if hook.too_large is not None:
        reason = f"the body is {hook.too_large} bytes: more than GitHub sends"
        return await _refuse(platform, hook, 413, reason, size=hook.too_large)
    try:
        body = base64.b64decode(hook.body, validate=True)
    except (binascii.Error, ValueError):
        return await _refuse(platform, hook, 400, "the body was not handed over as base64")
    if len(body) > MAX_HOOK_BODY_BYTES:
        return await _refuse(platform, hook, 413, f"the body is {len(body)} bytes", size=len(body))
    async with platform.pool.connection() as conn:
        candidates = await store.hooked(conn)
    if hook.hook_id:
        candidates = [c for c in candidates if str(c.hook_id) == hook.hook_id]
    elif len(body) > UNNAMED_HOOK_BYTES:  # GitHub names its hook: no need to try every secret
        candidates = []
    signers = await asyncio.to_thread(_signed_by, platform, candidates, hook, body)
    if not signers:
        why = "bad signature" if hook.signature else "no signature"
        # shown with the app whose hook it names, apart from that app's signed deliveries
        named = candidates[0].app if hook.hook_id and len(candidates) == 1 else None
        return await _refuse(
            platform,
            hook,
            401,
            f"{why}: no connected app's secret signs it",
            size=len(body),
            app=named,
        )
    try:
        document = await asyncio.to_thread(rules.payload, body)
    except DomainError as exc:
        return await _refuse(platform, hook, 400, str(exc), size=len(body), app=signers[0].app)
    repository = document.get("repository")
    repo = repository.get("full_name") if isinstance(repository, dict) else None
    if not isinstance(repo, str) or not rules.REPOSITORY.fullmatch(repo):
        return await _refuse(
            platform, hook, 400, "no repository in the body", size=len(body), app=signers[0].app
        )
    followers = [c for c in signers if c.repo.lower() == repo.lower()]
    if not followers:
        return await _refuse(
            platform, hook, 404, f"no app is connected to {repo}", size=len(body), repo=repo
        )
    digest = hashlib.sha256(body).hexdigest()
    answers = [
        await _verified(platform, connection, hook, document, len(body), digest)
        for connection in followers
    ]
    return _together(answers)


def _together(answers: list[Received]) -> Received:
    """One answer for GitHub when the delivery concerned several apps (one repository
    followed on two branches): deployed if any deploys, the reasons side by side."""
    if len(answers) == 1:
        return answers[0]
    first = next((a for a in answers if a.verdict is HookVerdict.DEPLOYED), answers[0])
    reason = "; ".join(f"{a.app}: {a.reason}" for a in answers)
    return Received(first.status, first.verdict, reason, first.app, first.job)


def _signed_by(
    platform: Platform, candidates: list[ConnectionRow], hook: HookDeliveryParams, body: bytes
) -> list[ConnectionRow]:
    """The connections whose secret signed the body (blocking: run it in a thread)."""
    signers = []
    for connection in candidates:
        secret = platform.vault.decrypt(connection.secret)
        if rules.signed(secret, body, hook.signature):
            signers.append(connection)
    return signers


async def _verified(
    platform: Platform,
    connection: ConnectionRow,
    hook: HookDeliveryParams,
    document: dict[str, Any],
    size: int,
    digest: str,
) -> Received:
    app = connection.app
    async with platform.pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"github:{app}",))
        earlier = await store.acted_on(conn, app, hook.delivery, digest)
        if earlier is not None:
            reason = f"already received at {earlier.received_at:%Y-%m-%d %H:%M:%S} UTC"
            await _record(
                conn, hook, app, connection.repo, HookVerdict.DUPLICATE, reason, size, digest
            )
            return Received(200, HookVerdict.DUPLICATE, reason, app)
        await store.redelivered(conn, app, hook.delivery, digest)
        intent = rules.intent(
            hook.event,
            document,
            branch=connection.branch,
            previews=connection.previews,
            forks=platform.settings.github_forks,
        )
        if intent.action is Action.NOTHING:
            await _record(
                conn, hook, app, connection.repo, HookVerdict.IGNORED, intent.reason, size, digest
            )
            return Received(200, HookVerdict.IGNORED, intent.reason, app)
        target = app
        if intent.pull_request is not None:
            target = rules.preview_name(app, intent.pull_request)
        if intent.action is Action.CLOSE_PREVIEW:
            reason = f"{intent.reason}: {target} is removed"
        else:
            reason = f"{intent.reason}: {target} deploys {intent.commit and intent.commit[:12]}"
        await _record(
            conn,
            hook,
            app,
            connection.repo,
            HookVerdict.DEPLOYED,
            reason,
            size,
            digest,
            commit=intent.commit,
            target=target,
            pull_request=intent.pull_request,
        )
    platform.wake_github()
    return Received(202, HookVerdict.DEPLOYED, reason, app)


async def _record(
    conn: store.Conn,
    hook: HookDeliveryParams,
    app: str | None,
    repo: str | None,
    verdict: HookVerdict,
    reason: str,
    size: int,
    digest: str | None = None,
    *,
    verified: bool = True,
    commit: str | None = None,
    target: str | None = None,
    pull_request: int | None = None,
) -> DeliveryRow:
    return await store.record_delivery(
        conn,
        delivery=hook.delivery,
        event=hook.event or "(none)",
        app=app,
        repo=repo,
        verdict=verdict.value,
        reason=reason,
        size=min(size, MAX_SIZE),
        verified=verified,
        body_sha256=digest,
        commit_sha=commit,
        target=target,
        pull_request=pull_request,
    )


async def _refuse(
    platform: Platform,
    hook: HookDeliveryParams,
    status: int,
    reason: str,
    *,
    size: int = 0,
    repo: str | None = None,
    app: str | None = None,
    verified: bool = False,
) -> Received:
    async with platform.pool.connection() as conn:
        await _record(
            conn,
            hook,
            app,
            repo,
            HookVerdict.REJECTED,
            reason,
            size or (hook.too_large or 0),
            verified=verified,
        )
    return Received(status, HookVerdict.REJECTED, reason, app)


# -- the worker's pass


@dataclass(slots=True)
class Retries:
    """When each delivery may be tried again after GitHub refused or failed its report: 5 s,
    then twice as long each time, up to 5 minutes (the worker's own, in memory: a
    restarted daemon tries at once)."""

    due: dict[int, tuple[int, float]] = field(default_factory=dict)

    def ready(self, delivery: int) -> bool:
        return self.due.get(delivery, (0, 0.0))[1] <= time.monotonic()

    def failed(self, delivery: int) -> None:
        tries = self.due.get(delivery, (0, 0.0))[0] + 1
        self.due[delivery] = (tries, time.monotonic() + min(300.0, 5.0 * 2 ** (tries - 1)))

    def done(self, delivery: int) -> None:
        self.due.pop(delivery, None)


async def advance(platform: Platform, retries: Retries | None = None) -> None:
    """Do what the recorded deliveries still ask: start waiting deploys (the newest per
    app), make or remove previews, report deploys to GitHub."""
    retries = retries if retries is not None else Retries()
    async with platform.pool.connection() as conn:
        open_ = await store.open_deliveries(conn)
    newest: dict[str, int] = {}
    for delivery in open_:
        if delivery.job_id is None and delivery.target is not None:
            newest[delivery.target] = delivery.id
    for delivery in open_:
        if not retries.ready(delivery.id):
            continue
        try:
            if await _advance_one(platform, delivery, newest):
                retries.done(delivery.id)
            else:
                retries.failed(delivery.id)
        except previews.PreviewRefused as exc:
            await _reported(platform, delivery, "gave_up", str(exc))
        except Exception:
            log.exception("GitHub delivery %d could not be carried on", delivery.id)
            retries.failed(delivery.id)


async def _advance_one(platform: Platform, delivery: DeliveryRow, newest: dict[str, int]) -> bool:
    """False when GitHub refused or failed the report (tried again after a while)."""
    target = delivery.target
    assert target is not None and delivery.app is not None
    if delivery.job_id is None:
        async with platform.pool.connection() as conn:
            following = await store.connection(conn, delivery.app)
        if following is None:  # disconnected (or deleted) since
            await _reported(
                platform, delivery, "gave_up", f"{delivery.app} no longer follows GitHub"
            )
            return True
        if newest.get(target) != delivery.id:
            replaced = f"{delivery.reason}; a later one replaced it"
            async with platform.pool.connection() as conn:
                await store.supersede(conn, delivery.id, replaced)
            return True
        if delivery.commit_sha is None:  # a closed pull request: its preview goes
            assert delivery.pull_request is not None
            if await previews.remove(
                platform, target, ACTOR, of=(delivery.app, delivery.pull_request)
            ):
                async with platform.pool.connection() as conn:
                    await store.set_reported(conn, delivery.id, "done")
            return True
        if delivery.pull_request is not None:
            await previews.ensure(platform, delivery.app, delivery.pull_request, target, ACTOR)
        async with platform.pool.connection() as conn:
            try:
                async with conn.transaction():  # the job and its delivery's note of it, or neither
                    job = await job_store.enqueue(
                        conn,
                        app=target,
                        kind=JobKind.DEPLOY,
                        params={"ref": delivery.commit_sha},
                        actor=ACTOR,
                    )
                    await store.set_job(conn, delivery.id, job.id)
            except job_store.AppBusy:
                return True  # the app's current job ends first; the next pass starts it
        platform.wake_jobs()
        delivery = await _reload(platform, delivery.id)
    return await _report(platform, delivery)


async def _reload(platform: Platform, delivery_id: int) -> DeliveryRow:
    async with platform.pool.connection() as conn:
        found = await store.delivery(conn, delivery_id)
    assert found is not None
    return found


async def _report(platform: Platform, delivery: DeliveryRow) -> bool:
    """Tell GitHub where the deploy is: pending once it is started, then how it ended."""
    assert delivery.job_id is not None
    commit = delivery.commit_sha
    assert commit is not None
    async with platform.pool.connection() as conn:
        job = await job_store.get(conn, delivery.job_id)
        connection = await store.connection(conn, delivery.app or "")
    if job is None or connection is None:
        await _reported(platform, delivery, "gave_up", "the app or its deploy is gone")
        return True
    finished = job.state in (JobState.SUCCEEDED, JobState.FAILED)
    if delivery.reported == "pending" and not finished:
        return True
    target = delivery.target or connection.app
    url = platform.url(target)
    try:
        async with await account.client(platform) as github:
            if delivery.reported == "no":
                await github.set_status(
                    connection.repo,
                    commit,
                    "pending",
                    f"deploying to {target} (job {job.id})",
                )
                deployment = await github.create_deployment(
                    connection.repo,
                    commit,
                    target,
                    f"deployd job {job.id}",
                    transient=delivery.pull_request is not None,
                    production=delivery.pull_request is None,
                )
                async with platform.pool.connection() as conn:
                    await store.set_deployment(conn, delivery.id, deployment)
                await github.set_deployment_status(
                    connection.repo, deployment, "in_progress", url, f"job {job.id}"
                )
                await _reported(platform, delivery, "pending")
                delivery = await _reload(platform, delivery.id)
            if not finished:
                return True
            ok = job.state is JobState.SUCCEEDED
            said = f"live at {url}" if ok else f"failed: {job.error or 'see deployctl'}"
            await github.set_status(
                connection.repo,
                commit,
                "success" if ok else "failure",
                said,
                target_url=url if ok else None,
            )
            if delivery.deployment_id is not None:
                await github.set_deployment_status(
                    connection.repo,
                    delivery.deployment_id,
                    "success" if ok else "failure",
                    url if ok else None,
                    said,
                )
        await _reported(platform, delivery, "done")
    except GitHubError as exc:
        late = datetime.now(UTC) - delivery.received_at > REPORT_FOR
        await _reported(platform, delivery, "gave_up" if late else delivery.reported, str(exc))
        return False
    return True


async def _reported(
    platform: Platform, delivery: DeliveryRow, reported: str, error: str | None = None
) -> None:
    async with platform.pool.connection() as conn:
        await store.set_reported(conn, delivery.id, reported, error)
