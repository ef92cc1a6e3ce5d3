"""`update.check` and `update.start`: deployd updating itself (engine/selfupdate)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict

from deployd import __version__
from deployd.domain.upgrades import (
    UpdateKind,
    UpdateRecord,
    UpdateRefused,
    choose,
    parse_version,
)
from deployd.protocol.errors import conflict, invalid
from deployd.protocol.system import (
    UpdateCheckResult,
    UpdateInfo,
    UpdateParams,
    UpdateProgress,
    UpdateStarted,
)

from .core import Caller, Core


def info(update: UpdateRecord | None) -> UpdateInfo | None:
    if update is None:
        return None
    fields = asdict(update)
    del fields["id"], fields["published"]
    return UpdateInfo.model_validate(fields)


async def check(core: Core, caller: Caller) -> UpdateCheckResult:
    updater = core.updater
    source = updater.redacted(core.settings.update_source)
    try:
        updater.running()
    except UpdateRefused as exc:
        return UpdateCheckResult(
            running=__version__, installed=False, refusal=str(exc), source=source
        )
    try:
        offered = await updater.offered()
    except UpdateRefused as exc:
        return UpdateCheckResult(
            running=__version__, installed=True, refusal=str(exc), source=source
        )
    versions = sorted(offered, key=parse_version)
    result = UpdateCheckResult(
        running=__version__,
        installed=True,
        source=source,
        offered=versions,
        newest=versions[-1] if versions else None,
    )
    try:
        return result.model_copy(update={"target": choose(__version__, versions, None)})
    except UpdateRefused as exc:
        return result.model_copy(update={"refusal": str(exc)})


async def start(
    core: Core, caller: Caller, params: UpdateParams
) -> tuple[UpdateStarted, AsyncIterator[UpdateProgress]]:
    if params.rollback and params.to:
        raise invalid("--rollback goes back to the previous version: it takes no --to")
    kind = UpdateKind.ROLLBACK if params.rollback else UpdateKind.UPDATE
    try:
        update = await core.updater.begin(kind, params.to, caller.name)
    except UpdateRefused as exc:
        raise conflict(str(exc)) from None
    started = info(update)
    assert started is not None

    async def progress() -> AsyncIterator[UpdateProgress]:
        async for said in core.updater.follow():
            yield UpdateProgress(step=said.step.value, message=said.message)

    return UpdateStarted(update=started), progress()
