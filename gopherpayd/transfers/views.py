"""Turning transfer rows into the API's Transfer objects, parties included."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from gopherpayd.fx import repository as fx_repository
from gopherpayd.fx.terms import QuoteTerms
from gopherpayd.identity.models import User
from gopherpayd.transfers import repository
from gopherpayd.transfers.models import Transfer
from gopherpayd.transfers.schemas import FxOut, PartyOut, TransferOut
from gopherpayd.vocabulary import WalletKind
from gopherpayd.wallets.models import Wallet


def _party(wallet: Wallet, owner: User | None) -> PartyOut:
    return PartyOut(
        wallet_id=wallet.id,
        user_id=owner.id if owner else None,
        email=owner.email if owner else None,
        full_name=owner.full_name if owner else None,
        system=wallet.kind != WalletKind.USER,
    )


def describe(session: Session, transfers: list[Transfer], viewer_id: uuid.UUID | None) -> list[TransferOut]:
    wallet_ids = [t.from_wallet_id for t in transfers] + [t.to_wallet_id for t in transfers]
    parties = repository.wallets_with_owners(session, wallet_ids)
    quotes = fx_repository.get_quotes(session, (t.quote_id for t in transfers if t.quote_id is not None))
    described = []
    for transfer in transfers:
        sender = _party(*parties[transfer.from_wallet_id])
        recipient = _party(*parties[transfer.to_wallet_id])
        direction = None
        if viewer_id is not None and sender.user_id == viewer_id:
            direction = "out"  # an exchange's owner is both sides: their money went out
        elif viewer_id is not None and recipient.user_id == viewer_id:
            direction = "in"
        described.append(
            TransferOut(
                id=transfer.id,
                kind=transfer.kind,
                amount=transfer.amount,
                currency=transfer.currency,
                sender=sender,
                recipient=recipient,
                memo=transfer.memo,
                reverses_transfer_id=transfer.reverses_transfer_id,
                created_at=transfer.created_at,
                direction=direction,
                fx=FxOut.of(QuoteTerms.of(quotes[transfer.quote_id])) if transfer.quote_id else None,
            )
        )
    return described
