"""Every event type: its Kafka topic family, its Novu workflow, and where it is shown."""

from __future__ import annotations

from dataclasses import dataclass

from gopherpayd.vocabulary import EventType


@dataclass(frozen=True)
class EventKind:
    family: str
    """Topic suffix: events of one family share `<prefix>.<family>`."""
    workflow: str | None
    """The Novu workflow triggered for it, if any."""
    inbox: bool = True
    """Whether it lands in the user's in-app inbox and on their live stream."""
    transfer: bool = False
    """Whether it announces a transfer (streamed as the Transfer object)."""


EVENTS: dict[EventType, EventKind] = {
    EventType.USER_SIGNED_UP: EventKind("identity", "welcome"),
    # The code must reach the mailbox only: showing it in the app would let anyone
    # who signs up with someone else's address verify it.
    EventType.USER_EMAIL_VERIFICATION: EventKind("identity", "email-verification", inbox=False),
    EventType.USER_NEW_LOGIN: EventKind("identity", "new-login"),
    EventType.ACCOUNT_FROZEN: EventKind("identity", "account-frozen"),
    EventType.ACCOUNT_UNFROZEN: EventKind("identity", "account-unfrozen"),
    EventType.TRANSFER_SENT: EventKind("transfers", "transfer-sent", transfer=True),
    EventType.TRANSFER_RECEIVED: EventKind("transfers", "transfer-received", transfer=True),
    EventType.TRANSFER_REVERSED: EventKind("transfers", "transfer-reversed", transfer=True),
    EventType.WALLET_DEPOSIT: EventKind("transfers", "deposit", transfer=True),
    EventType.WALLET_WITHDRAWAL: EventKind("transfers", "withdrawal", transfer=True),
    EventType.WALLET_FROZEN: EventKind("wallets", "wallet-frozen"),
    EventType.WALLET_UNFROZEN: EventKind("wallets", "wallet-unfrozen"),
    # Holds share the transfers' topics: one user's money events stay in one ordered stream.
    # Both parties hear of each step; a capture's money also arrives as transfer.sent/received.
    EventType.HOLD_PLACED: EventKind("transfers", "hold-placed"),
    EventType.HOLD_CAPTURED: EventKind("transfers", "hold-captured"),
    EventType.HOLD_VOIDED: EventKind("transfers", "hold-voided"),
    EventType.HOLD_DECLINED: EventKind("transfers", "hold-declined"),
    EventType.HOLD_EXPIRED: EventKind("transfers", "hold-expired"),
    # An exchange between one's own wallets; a payment in another currency is transfer.sent
    # and transfer.received, each in its own party's currency.
    EventType.FX_EXCHANGED: EventKind("transfers", "fx-exchanged", transfer=True),
}
FAMILIES = sorted({kind.family for kind in EVENTS.values()})
DEAD_LETTER_FAMILY = "dead-letters"
UNKNOWN_KIND = EventKind("identity", None, inbox=False)


def kind_of(event_type: str) -> EventKind:
    """An event read back (outbox row, Kafka message): a type this version does not know
    (a newer daemon's) is delivered nowhere and shown nowhere."""
    try:
        return EVENTS.get(EventType(event_type), UNKNOWN_KIND)
    except ValueError:
        return UNKNOWN_KIND


def topic_for(prefix: str, event_type: str) -> str:
    return f"{prefix}.{kind_of(event_type).family}"


def all_topics(prefix: str) -> list[str]:
    return [f"{prefix}.{family}" for family in FAMILIES]


def dead_letter_topic(prefix: str) -> str:
    return f"{prefix}.{DEAD_LETTER_FAMILY}"
