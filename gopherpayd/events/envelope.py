"""An outbox event as handlers see it, and its Kafka wire form."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gopherpayd.kit.clock import as_utc
from gopherpayd.outbox.models import OutboxEvent

EVENT_ID_HEADER = "event-id"
EVENT_TYPE_HEADER = "event-type"


class UndecodableEvent(ValueError):
    pass


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    type: str
    user_id: str
    user_seq: int | None
    created_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: OutboxEvent) -> Event:
        return cls(
            id=row.id,
            type=row.event_type,
            user_id=row.aggregate_key,
            user_seq=row.user_seq,
            created_at=row.created_at,
            payload=json.loads(row.payload),
        )

    def encode(self) -> bytes:
        return json.dumps(
            {
                "event_id": str(self.id),
                "type": self.type,
                "user_id": self.user_id,
                "user_seq": self.user_seq,
                "created_at": self.created_at.isoformat(),
                "payload": self.payload,
            },
            sort_keys=True,
        ).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        return [(EVENT_ID_HEADER, str(self.id).encode()), (EVENT_TYPE_HEADER, self.type.encode())]

    @classmethod
    def decode(cls, value: bytes | None) -> Event:
        try:
            data = json.loads(value or b"")
            return cls(
                id=uuid.UUID(data["event_id"]),
                type=str(data["type"]),
                user_id=str(data["user_id"]),
                user_seq=data.get("user_seq"),
                created_at=as_utc(datetime.fromisoformat(data["created_at"])),
                payload=dict(data["payload"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise UndecodableEvent(f"not a GopherPay event: {error}") from error
