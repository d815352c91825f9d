"""Transfer refusals."""

from gopherpayd.kit.errors import BadRequest, Conflict, Forbidden, NotFound


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


class HoldNotFound(NotFound):
    code, title = "hold_not_found", "Hold not found"


class HoldActionForbidden(Forbidden):
    """A party to the hold asking for what only the other party (or an operator) may do."""

    code, title = "hold_action_forbidden", "Not allowed on this hold"


class HoldNotOpen(Conflict):
    code, title = "hold_not_open", "Hold not open"


class HoldExpired(Conflict):
    code, title = "hold_expired", "Hold expired"


class HoldNotExpired(Conflict):
    code, title = "hold_not_expired", "Hold not expired"


class HoldAmountExceeded(Conflict):
    code, title = "hold_amount_exceeded", "More than the hold has left"


class InvalidExpiry(BadRequest):
    code, title = "invalid_expiry", "Invalid expiry"
