"""Who may do what to whom, beyond the per-method minimum role of the protocol table.

Roles are plain strings here (the protocol's `Role` is a StrEnum, so its members compare
equal) to keep the domain free of any other project module. Self-service is allowed: a
viewer can change their own password and mint tokens for themselves; acting on someone
else needs admin. The built-in admin and the last admin can never be removed, so a
server can never be locked out of itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DomainError

ROLE_RANK = {"viewer": 0, "deployer": 1, "admin": 2}


def role_allows(role: str, required: str) -> bool:
    return ROLE_RANK[role] >= ROLE_RANK[required]


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    role: str


def may_act_on_user(actor: Actor, target: str) -> bool:
    return actor.role == "admin" or actor.name == target


def check_removal(target: str, *, builtin: bool, admins_left_after: int, actor: Actor) -> None:
    if builtin:
        raise DomainError(f"{target} is the built-in admin and cannot be removed")
    if target == actor.name:
        raise DomainError("you cannot remove yourself; ask another admin")
    if admins_left_after < 1:
        raise DomainError("cannot remove the last admin")
