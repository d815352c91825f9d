"""Transfer refusals."""

from gopherpayd.kit.errors import BadRequest, Conflict, NotFound


class InvalidAmount(BadRequest):
    code, title = "invalid_amount", "Invalid amount"


class SelfTransfer(BadRequest):
    code, title = "self_transfer", "Transfer to yourself"


class CurrencyMismatch(BadRequest):
    code, title = "currency_mismatch", "Currency mismatch"


class RecipientNotFound(NotFound):
    code, title = "recipient_not_found", "Recipient not found"


class TransferNotFound(NotFound):
    code, title = "transfer_not_found", "Transfer not found"


class InsufficientFunds(Conflict):
    code, title = "insufficient_funds", "Insufficient funds"


class RecipientFrozen(Conflict):
    code, title = "recipient_frozen", "Recipient frozen"


class AlreadyReversed(Conflict):
    code, title = "already_reversed", "Already reversed"


class NotReversible(Conflict):
    code, title = "not_reversible", "Not reversible"


class IdempotencyKeyRequired(BadRequest):
    code, title = "idempotency_key_required", "Idempotency key required"


class IdempotencyKeyInvalid(BadRequest):
    code, title = "idempotency_key_invalid", "Idempotency key invalid"


class IdempotencyKeyReused(Conflict):
    code, title = "idempotency_key_reused", "Idempotency key reused"


class LinkedFailed(Conflict):
    """An item of an atomic batch that was fine on its own: another item failed, so none moved."""

    code, title = "linked_failed", "Linked movement failed"


class StatementTooLarge(BadRequest):
    status, code, title = 422, "statement_too_large", "Statement too large"
