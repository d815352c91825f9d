"""Roles changed at the console with `gopherpayd` (create-admin, set-role), each audited.

There is no logged-in operator at the console: the audit log records these with no
actor and says in the details that `gopherpayd` did it, as which OS user, on which
host. `gopherpay admin audit-log` shows them as `gopherpayd (console, OS user …)`.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from gopherpayd.audit.service import AuditNote, record
from gopherpayd.identity import repository, service
from gopherpayd.identity.errors import UserNotFound
from gopherpayd.identity.models import User
from gopherpayd.settings import Settings
from gopherpayd.vocabulary import Role


@dataclass(frozen=True)
class AccountState:
    """What an operator must see before changing an account's role."""

    email: str
    role: str
    email_verified: bool
    frozen: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> AccountState:
        return cls(user.email, user.role, user.email_verified_at is not None, user.frozen, user.created_at)

    def describe(self) -> str:
        verified = "email verified" if self.email_verified else "email not verified"
        frozen = "frozen" if self.frozen else "not frozen"
        created = self.created_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"role {self.role}, {verified}, {frozen}, created {created}"

    def as_details(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "email_verified": self.email_verified,
            "frozen": self.frozen,
            "created_at": self.created_at.isoformat(),
        }


def console_details(command: str) -> dict[str, Any]:
    """Who acted, for the audit log: the command, the OS user and the host."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container's arbitrary uid)
        os_user = "unknown"
    return {"via": "gopherpayd console", "command": command, "os_user": os_user, "host": socket.gethostname()}


def account_state(session: Session, email: str) -> AccountState | None:
    user = repository.get_user_by_email(session, service.normalize_email(email))
    return AccountState.of(user) if user else None


def create_admin(
    session: Session, settings: Settings, email: str, full_name: str, password_hash: str, reason: str
) -> User:
    """A new operator account (its address vouched for by whoever runs the daemon)."""
    user = service.create_user(
        session, settings, email, full_name, "", role=Role.ADMIN, password_hash=password_hash
    )
    details = {"email": user.email, "role": user.role, **console_details("create-admin")}
    record(session, AuditNote(None, "create_admin", f"user:{user.id}", reason, details))
    return user


def set_role(
    session: Session, email: str, role: Role, reason: str, command: str
) -> tuple[AccountState, User]:
    """Give an existing account `role`; returns what it was before, and the account."""
    user = repository.get_user_by_email(session, service.normalize_email(email))
    if user is None:
        raise UserNotFound(f"no account for {service.normalize_email(email)}")
    before = AccountState.of(user)
    user.role = role
    repository.update_user(session, user)
    details = {"email": user.email, "before": before.as_details(), "role": role, **console_details(command)}
    record(session, AuditNote(None, "set_role", f"user:{user.id}", reason, details))
    return before, user
