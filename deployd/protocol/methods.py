"""Every RPC method: its name, params, result, the role it needs and whether it mutates.

This table is the contract. The daemon dispatches and authorises from it, the audit log
records every method marked `mutating`, and the client validates results with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from . import apps, audit, databases, domains, env, events, github, snapshot, stats, system, users
from .common import NoParams, Role


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    params: type[BaseModel]
    result: type[BaseModel]
    role: Role
    mutating: bool = False
    audited: bool = False
    """Recorded in the audit log although it changes nothing (it reveals secrets)."""
    notification: str | None = None
    """For streams: the notification method each item arrives as."""
    target: str | None = None
    """The params field that names what the call acts on (recorded in the audit log)."""
    summary: str = ""

    @property
    def recorded(self) -> bool:
        """Whether the audit log records calls of this method."""
        return self.mutating or self.audited

    @property
    def stream(self) -> bool:
        return self.notification is not None


_ALL = (
    Method(
        "system.hello",
        system.HelloParams,
        system.HelloResult,
        Role.VIEWER,
        summary="handshake: protocol and daemon versions, who you are",
    ),
    Method(
        "system.status",
        NoParams,
        system.StatusResult,
        Role.VIEWER,
        summary="daemon, database and host status",
    ),
    Method(
        "system.snapshot",
        NoParams,
        snapshot.SnapshotResult,
        Role.VIEWER,
        summary="what a dashboard shows at start: status, apps, events, host, traffic",
    ),
    Method(
        "github.status",
        NoParams,
        github.GithubAccount,
        Role.VIEWER,
        summary="the GitHub account deployd acts as",
    ),
    Method(
        "github.login",
        NoParams,
        github.GithubLoginStarted,
        Role.ADMIN,
        mutating=True,
        notification=github.LOGIN_NOTIFICATION,
        summary="log deployd in to GitHub (device flow)",
    ),
    Method(
        "github.repos",
        github.GithubReposParams,
        github.GithubReposResult,
        Role.DEPLOYER,
        summary="repositories the GitHub account can see",
    ),
    Method(
        "github.branches",
        github.GithubBranchesParams,
        github.GithubBranchesResult,
        Role.DEPLOYER,
        target="repo",
    ),
    Method(
        "github.connect",
        github.GithubConnectParams,
        github.GithubConnection,
        Role.DEPLOYER,
        mutating=True,
        target="app",
        summary="make an app follow a GitHub repository: webhook, source, first deploy",
    ),
    Method(
        "github.show",
        github.GithubAppParams,
        github.GithubConnection,
        Role.VIEWER,
        target="app",
        summary="the repository an app follows, and its previews",
    ),
    Method(
        "github.deliveries",
        github.GithubDeliveriesParams,
        github.GithubDeliveriesResult,
        Role.VIEWER,
        target="app",
        summary="every webhook received for an app, with its verdict",
    ),
    Method(
        "github.redeliver",
        github.GithubRedeliverParams,
        github.GithubRedeliverResult,
        Role.DEPLOYER,
        mutating=True,
        target="app",
        summary="ask GitHub to send a webhook delivery again",
    ),
    Method(
        "github.disconnect",
        github.GithubAppParams,
        github.GithubDisconnectResult,
        Role.DEPLOYER,
        mutating=True,
        target="app",
        summary="stop following GitHub: the webhook and previews go",
    ),
    Method(
        "github.receive",
        github.HookDeliveryParams,
        github.HookDeliveryResult,
        Role.VIEWER,
        summary="a webhook GitHub sent, as `deployd web` received it (the daemon audits the "
        "signed ones itself: anybody can send the others)",
    ),
    Method(
        "auth.login",
        users.LoginParams,
        users.TokenCreated,
        Role.VIEWER,
        mutating=True,
        target="name",
        summary="exchange a password for a session token",
    ),
    Method(
        "auth.authenticate",
        users.AuthenticateParams,
        users.AuthenticateResult,
        Role.VIEWER,
        summary="act as a token's user on this connection",
    ),
    Method("users.list", NoParams, users.UsersListResult, Role.VIEWER),
    Method(
        "users.add",
        users.UsersAddParams,
        users.UsersAddResult,
        Role.ADMIN,
        mutating=True,
        target="name",
    ),
    Method(
        "users.passwd",
        users.UsersPasswdParams,
        users.UsersPasswdResult,
        Role.VIEWER,
        mutating=True,
        target="name",
        summary="admins set anyone's password; others only their own",
    ),
    Method(
        "users.remove",
        users.UserNameParams,
        users.UsersRemoveResult,
        Role.ADMIN,
        mutating=True,
        target="name",
    ),
    Method(
        "tokens.create",
        users.TokensCreateParams,
        users.TokenCreated,
        Role.VIEWER,
        mutating=True,
        target="name",
        summary="admins create tokens for anyone; others only for themselves",
    ),
    Method("tokens.list", users.TokensListParams, users.TokensListResult, Role.VIEWER),
    Method(
        "tokens.revoke",
        users.TokenIdParams,
        users.TokenInfo,
        Role.VIEWER,
        mutating=True,
        target="id",
    ),
    Method("audit.list", audit.AuditListParams, audit.AuditListResult, Role.ADMIN),
    Method("audit.verify", NoParams, audit.AuditVerifyResult, Role.ADMIN),
    Method("events.list", events.EventsListParams, events.EventsListResult, Role.VIEWER),
    Method(
        "events.subscribe",
        events.EventsSubscribeParams,
        events.EventsSubscribeResult,
        Role.VIEWER,
        notification=events.EVENT_NOTIFICATION,
    ),
    Method("apps.list", NoParams, apps.AppsListResult, Role.VIEWER),
    Method("apps.show", apps.AppParams, apps.AppInfo, Role.VIEWER),
    Method(
        "apps.create",
        apps.AppsCreateParams,
        apps.AppInfo,
        Role.DEPLOYER,
        mutating=True,
        target="name",
    ),
    Method(
        "apps.set",
        apps.AppsSetParams,
        apps.AppInfo,
        Role.DEPLOYER,
        mutating=True,
        target="name",
        summary="change an app's runtime (from its next deploy)",
    ),
    Method(
        "apps.delete",
        apps.AppParams,
        apps.AppsDeleteResult,
        Role.ADMIN,
        mutating=True,
        target="name",
        summary="stop its slots, remove its site and artifacts",
    ),
    Method(
        "deploys.start",
        apps.DeploysStartParams,
        apps.JobInfo,
        Role.DEPLOYER,
        mutating=True,
        target="app",
    ),
    Method(
        "deploys.rollback",
        apps.DeploysRollbackParams,
        apps.JobInfo,
        Role.DEPLOYER,
        mutating=True,
        target="app",
    ),
    Method("deploys.show", apps.DeploysWatchParams, apps.JobInfo, Role.VIEWER),
    Method(
        "deploys.watch",
        apps.DeploysWatchParams,
        apps.JobInfo,
        Role.VIEWER,
        notification=apps.DEPLOY_NOTIFICATION,
        summary="the job, then its events until it is live or has failed",
    ),
    Method("apps.ps", apps.AppParams, apps.AppsPsResult, Role.VIEWER),
    Method(
        "apps.scale",
        apps.AppsScaleParams,
        apps.JobInfo,
        Role.DEPLOYER,
        mutating=True,
        target="app",
        summary="how many processes of each type run",
    ),
    Method(
        "apps.restart",
        apps.AppsRestartParams,
        apps.JobInfo,
        Role.DEPLOYER,
        mutating=True,
        target="app",
        summary="restart the live release's processes (web ones rolling)",
    ),
    Method(
        "apps.stop",
        apps.AppParams,
        apps.JobInfo,
        Role.DEPLOYER,
        mutating=True,
        target="name",
        summary="stop every process; the address answers 503 until `start`",
    ),
    Method(
        "apps.start",
        apps.AppParams,
        apps.JobInfo,
        Role.DEPLOYER,
        mutating=True,
        target="name",
    ),
    Method(
        "apps.run",
        apps.AppsRunParams,
        apps.RunStarted,
        Role.DEPLOYER,
        mutating=True,
        target="app",
        notification=apps.RUN_NOTIFICATION,
        summary="a one-off process of the live release, attached to the caller's terminal",
    ),
    Method("releases.list", apps.ReleasesListParams, apps.ReleasesListResult, Role.VIEWER),
    Method("logs.read", apps.LogsReadParams, apps.LogsReadResult, Role.VIEWER),
    Method(
        "logs.follow",
        apps.LogsFollowParams,
        apps.LogsFollowStarted,
        Role.VIEWER,
        notification=apps.LOG_NOTIFICATION,
    ),
    Method("env.list", env.EnvAppParams, env.EnvListResult, Role.VIEWER, summary="masked"),
    Method(
        "env.reveal",
        env.EnvAppParams,
        env.EnvListResult,
        Role.DEPLOYER,
        audited=True,
        target="app",
        summary="the values themselves; recorded in the audit log",
    ),
    Method(
        "env.set",
        env.EnvSetParams,
        env.EnvSetResult,
        Role.DEPLOYER,
        mutating=True,
        target="app",
        summary="set, unset or replace variables: a new config version, applied by a "
        "config release unless staged",
    ),
    Method("env.history", env.EnvHistoryParams, env.EnvHistoryResult, Role.VIEWER),
    Method(
        "env.compare",
        env.EnvCompareParams,
        env.EnvCompareResult,
        Role.VIEWER,
        summary="which variables would come back, go or change with another config version",
    ),
    Method("domains.list", domains.DomainsListParams, domains.DomainsListResult, Role.VIEWER),
    Method(
        "domains.attach",
        domains.DomainsAttachParams,
        domains.DomainInfo,
        Role.DEPLOYER,
        mutating=True,
        target="app",
        summary="validate, verify DNS, issue a certificate (--tls), switch nginx",
    ),
    Method(
        "domains.verify",
        domains.DomainParams,
        domains.DomainsVerifyResult,
        Role.VIEWER,
        summary="check the domain's DNS now and say what is wrong",
    ),
    Method(
        "domains.detach",
        domains.DomainParams,
        domains.DomainsDetachResult,
        Role.DEPLOYER,
        mutating=True,
        target="app",
    ),
    Method("databases.list", NoParams, databases.DbListResult, Role.VIEWER),
    Method(
        "databases.show",
        databases.DbShowParams,
        databases.DbInfo,
        Role.VIEWER,
        summary="password masked",
    ),
    Method(
        "databases.reveal",
        databases.DbShowParams,
        databases.DbInfo,
        Role.DEPLOYER,
        audited=True,
        target="name",
        summary="with the password and URL; recorded in the audit log",
    ),
    Method(
        "databases.create",
        databases.DbCreateParams,
        databases.DbInfo,
        Role.DEPLOYER,
        mutating=True,
        target="name",
        summary="a database and its own role, linked to an app with --app",
    ),
    Method(
        "databases.link",
        databases.DbLinkParams,
        databases.DbLinkResult,
        Role.DEPLOYER,
        mutating=True,
        target="database",
        summary="give an app the database's URL in a config variable (a config release)",
    ),
    Method(
        "databases.unlink",
        databases.DbUnlinkParams,
        databases.DbLinkResult,
        Role.DEPLOYER,
        mutating=True,
        target="database",
    ),
    Method(
        "databases.drop",
        databases.DbDropParams,
        databases.DbDropResult,
        Role.DEPLOYER,
        mutating=True,
        target="name",
        summary="refused while linked; a verified final backup first",
    ),
    Method(
        "databases.backup",
        databases.DbParams,
        databases.BackupInfo,
        Role.DEPLOYER,
        mutating=True,
        target="name",
        summary="dump, verify, record",
    ),
    Method("databases.backups", databases.DbParams, databases.DbBackupsResult, Role.VIEWER),
    Method(
        "databases.migrate",
        databases.DbMigrateParams,
        apps.JobInfo,
        Role.DEPLOYER,
        mutating=True,
        target="app",
        summary="run the live release's `release:` command again; `db show` keeps the outcome",
    ),
    Method(
        "system.top",
        NoParams,
        system.TopResult,
        Role.VIEWER,
        summary="host CPU, memory, load, network and disks; each app's processes' CPU and RSS",
    ),
    Method(
        "system.disk",
        NoParams,
        system.DiskResult,
        Role.VIEWER,
        summary="per app: builds, logs, images, databases; the host's disks; backups",
    ),
    Method(
        "stats.follow",
        stats.StatsFollowParams,
        stats.StatsFollowStarted,
        Role.VIEWER,
        notification=stats.LIVE_NOTIFICATION,
        summary="the app's requests each second, live",
    ),
    Method(
        "stats.show",
        stats.StatsParams,
        stats.StatsResult,
        Role.VIEWER,
        summary="requests, statuses, latency percentiles and visitors over any range",
    ),
    Method(
        "update.check",
        NoParams,
        system.UpdateCheckResult,
        Role.ADMIN,
        summary="the versions the update source offers and what self-update would install",
    ),
    Method(
        "update.start",
        system.UpdateParams,
        system.UpdateStarted,
        Role.ADMIN,
        mutating=True,
        target="to",
        notification=system.UPDATE_NOTIFICATION,
        summary="install another version of deployd beside this one and switch to it "
        "(or back, with rollback); its progress until the daemon restarts",
    ),
    Method("storage.show", NoParams, databases.RemoteInfo, Role.VIEWER),
    Method(
        "storage.set",
        databases.RemoteSetParams,
        databases.RemoteInfo,
        Role.ADMIN,
        mutating=True,
        target="access_key_id",
        summary="the remote storage's keys, kept in the vault; the first time, the age key "
        "pair that encrypts every copy (its secret shown once)",
    ),
    Method(
        "databases.psql",
        databases.DbParams,
        databases.DbPsqlStarted,
        Role.DEPLOYER,
        audited=True,
        target="name",
        notification=apps.RUN_NOTIFICATION,
        summary="an interactive psql as the database's own role, on the caller's terminal",
    ),
    Method(
        "databases.schedule",
        databases.DbScheduleParams,
        databases.DbScheduleResult,
        Role.DEPLOYER,
        mutating=True,
        target="name",
    ),
    Method(
        "databases.restore",
        databases.DbRestoreParams,
        databases.DbRestoreResult,
        Role.DEPLOYER,
        mutating=True,
        target="name",
        summary="into a new database, checked, then swapped in; the old one is kept",
    ),
)

METHODS: dict[str, Method] = {m.name: m for m in _ALL}
