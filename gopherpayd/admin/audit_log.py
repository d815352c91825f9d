"""Writing the operators' audit log, inside the caller's transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from gopherpayd.admin.models import AuditLogEntry


@dataclass(frozen=True)
class AuditNote:
    actor_id: uuid.UUID
    action: str
    target: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


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
