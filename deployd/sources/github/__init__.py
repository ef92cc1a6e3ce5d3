"""GitHub for deployd: the device-flow login (`DeviceFlow`) and the REST API with one
token (`GitHub`), over httpx, with typed records back and one error type in words.

Private repositories are fetched with the token through `deployd.sources.git_askpass`.
"""

from .client import CommitState, DeploymentState, GitHub
from .device import DEFAULT_SCOPE, DeviceFlow
from .errors import LOGIN_AGAIN, GitHubError, GitHubErrorKind
from .models import (
    Branch,
    DeviceCode,
    Endpoints,
    GitHubUser,
    Grant,
    Hook,
    HookDelivery,
    Repository,
)
from .wire import MAX_BYTES, Policy

__all__ = [
    "DEFAULT_SCOPE",
    "LOGIN_AGAIN",
    "MAX_BYTES",
    "Branch",
    "CommitState",
    "DeploymentState",
    "DeviceCode",
    "DeviceFlow",
    "Endpoints",
    "GitHub",
    "GitHubError",
    "GitHubErrorKind",
    "GitHubUser",
    "Grant",
    "Hook",
    "HookDelivery",
    "Policy",
    "Repository",
]
