"""Table: wallets, one per user and currency, plus one system wallet per currency."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, text
from sqlmodel import Field, SQLModel

from gopherpayd.kit.models import fk_field, id_field, minor_units_field, timestamp_field
from gopherpayd.vocabulary import WalletKind, one_of

CLOSED_IS_EMPTY = "ck_wallets_closed_is_empty"
IS_USER = f"kind = '{WalletKind.USER}'"
IS_SYSTEM = f"kind = '{WalletKind.SYSTEM}'"
MAY_GO_NEGATIVE = f"kind IN ('{WalletKind.SYSTEM}', '{WalletKind.FX_HOUSE}')"
"""The wallets that stand for a position, not for money someone holds: the outside world and
the FX house. Every other wallet (users', the FX revenue) never goes below zero."""
IS_FX = f"kind IN ('{WalletKind.FX_HOUSE}', '{WalletKind.FX_REVENUE}')"


class Wallet(SQLModel, table=True):
    __tablename__ = "wallets"
    __table_args__ = (
        CheckConstraint(one_of("kind", WalletKind), name="ck_wallets_kind"),
        # Only user wallets have an owner (the name is older than the FX wallets).
        CheckConstraint(f"({IS_USER}) = (owner_id IS NOT NULL)", name="ck_wallets_system_has_no_owner"),
        CheckConstraint(f"{MAY_GO_NEGATIVE} OR balance >= 0", name="ck_wallets_user_balance_non_negative"),
        # Twin of the engine's check_wallet_open: a closed wallet holds nothing, so no money
        # can be stranded where its owner no longer sees it.
        CheckConstraint("closed_at IS NULL OR balance = 0", name=CLOSED_IS_EMPTY),
        CheckConstraint("held >= 0", name="ck_wallets_held_non_negative"),
        CheckConstraint(
            f"{MAY_GO_NEGATIVE} OR balance - held >= 0", name="ck_wallets_user_held_within_balance"
        ),
        Index(
            "uq_wallets_open_user_currency",
            "owner_id",
            "currency",
            unique=True,
            sqlite_where=text(f"closed_at IS NULL AND {IS_USER}"),
            postgresql_where=text(f"closed_at IS NULL AND {IS_USER}"),
        ),
        Index(
            "uq_wallets_system_currency",
            "currency",
            unique=True,
            sqlite_where=text(IS_SYSTEM),
            postgresql_where=text(IS_SYSTEM),
        ),
        Index(
            "uq_wallets_fx_kind_currency",
            "kind",
            "currency",
            unique=True,
            sqlite_where=text(IS_FX),
            postgresql_where=text(IS_FX),
        ),
    )

    id: uuid.UUID = id_field()
    owner_id: uuid.UUID | None = fk_field("users.id", nullable=True, index=True)
    currency: str = Field(min_length=3, max_length=3)
    kind: str = Field(default=WalletKind.USER, max_length=10)
    balance: int = minor_units_field(default=0)
    """Minor units. User wallets: money held, never negative. The system wallet
    stands for the outside world: minus the money that has come into GopherPay."""
    held: int = minor_units_field(default=0, sa_column_kwargs={"server_default": "0"})
    """Minor units of `balance` that open holds reserve (>= 0): the wallet's posted money is
    `balance`, what its owner may spend is `balance - held`."""
    frozen: bool = Field(default=False)
    created_at: datetime = timestamp_field()
    closed_at: datetime | None = timestamp_field(nullable=True)
