"""Every event type: its Kafka topic family, its Novu workflow, and where it is shown."""

from __future__ import annotations

from dataclasses import dataclass


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


EVENTS: dict[str, EventKind] = {
    "user.signed_up": EventKind("identity", "welcome"),
    # The code must reach the mailbox only: showing it in the app would let anyone
    # who signs up with someone else's address verify it.
    "user.email_verification": EventKind("identity", "email-verification", inbox=False),
    "user.new_login": EventKind("identity", "new-login"),
    "account.frozen": EventKind("identity", "account-frozen"),
    "account.unfrozen": EventKind("identity", "account-unfrozen"),
    "transfer.sent": EventKind("transfers", "transfer-sent", transfer=True),
    "transfer.received": EventKind("transfers", "transfer-received", transfer=True),
    "transfer.reversed": EventKind("transfers", "transfer-reversed", transfer=True),
    "wallet.deposit": EventKind("transfers", "deposit", transfer=True),
    "wallet.withdrawal": EventKind("transfers", "withdrawal", transfer=True),
    "wallet.frozen": EventKind("wallets", "wallet-frozen"),
    "wallet.unfrozen": EventKind("wallets", "wallet-unfrozen"),
}
FAMILIES = sorted({kind.family for kind in EVENTS.values()})
DEAD_LETTER_FAMILY = "dead-letters"
UNKNOWN_KIND = EventKind("identity", None, inbox=False)


def kind_of(event_type: str) -> EventKind:
    return EVENTS.get(event_type, UNKNOWN_KIND)


def topic_for(prefix: str, event_type: str) -> str:
    return f"{prefix}.{kind_of(event_type).family}"


def all_topics(prefix: str) -> list[str]:
    return [f"{prefix}.{family}" for family in FAMILIES]


def dead_letter_topic(prefix: str) -> str:
    return f"{prefix}.{DEAD_LETTER_FAMILY}"
