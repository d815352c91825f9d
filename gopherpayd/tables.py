"""Imports every table model so SQLModel.metadata knows the whole schema."""

from sqlmodel import SQLModel

from gopherpayd.audit.models import AuditLogEntry
from gopherpayd.events.models import DeadLetter, ProcessedEvent
from gopherpayd.fx.models import FxQuote, FxRate
from gopherpayd.identity.models import (
    ApiToken,
    AuthSession,
    EmailVerification,
    LoginFailure,
    RefreshToken,
    SignupAttempt,
    User,
)
from gopherpayd.notifications.models import Notification
from gopherpayd.outbox.models import OutboxEvent
from gopherpayd.transfers.models import Entry, Hold, IdempotencyRecord, Transfer
from gopherpayd.wallets.models import Wallet

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "AuditLogEntry",
    "AuthSession",
    "DeadLetter",
    "EmailVerification",
    "Hold",
    "Notification",
    "ProcessedEvent",
    "Entry",
    "FxQuote",
    "FxRate",
    "IdempotencyRecord",
    "LoginFailure",
    "OutboxEvent",
    "RefreshToken",
    "SignupAttempt",
    "Transfer",
    "User",
    "Wallet",
    "metadata",
]
