"""Imports every table model so SQLModel.metadata knows the whole schema."""

from sqlmodel import SQLModel

from gopherpayd.admin.models import AuditLogEntry
from gopherpayd.events.models import OutboxEvent
from gopherpayd.identity.models import AuthSession, LoginFailure, RefreshToken, User
from gopherpayd.transfers.models import Entry, IdempotencyRecord, Transfer
from gopherpayd.wallets.models import Wallet

metadata = SQLModel.metadata

__all__ = [
    "AuditLogEntry",
    "AuthSession",
    "Entry",
    "IdempotencyRecord",
    "LoginFailure",
    "OutboxEvent",
    "RefreshToken",
    "Transfer",
    "User",
    "Wallet",
    "metadata",
]
