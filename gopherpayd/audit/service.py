"""Writing the operators' audit log, inside the caller's transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from gopherpayd.audit.models import AuditLogEntry


@dataclass(frozen=True)
class AuditNote:
    actor_id: uuid.UUID | None
    """The operator; None for an action taken with `gopherpayd` at the console."""
    action: str
    target: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def console_actor(details: dict[str, Any]) -> str:
    """How an action taken with `gopherpayd` at the console (no operator account) is shown."""
    return f"gopherpayd (console, OS user {details.get('os_user') or 'unknown'})"


def record(session: Session, note: AuditNote) -> None:
    session.add(
        AuditLogEntry(
            actor_id=note.actor_id,
            action=note.action,
            target=note.target,
            reason=note.reason,
            details=json.dumps(note.details, sort_keys=True, default=str),
        )
    )
