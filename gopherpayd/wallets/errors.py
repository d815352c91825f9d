"""Wallet refusals."""

from gopherpayd.kit.errors import BadRequest, Conflict, NotFound


class UnsupportedCurrency(BadRequest):
    code, title = "unsupported_currency", "Unsupported currency"


class WalletNotFound(NotFound):
    code, title = "wallet_not_found", "Wallet not found"


class WalletExists(Conflict):
    code, title = "wallet_exists", "Wallet exists"


class WalletNotEmpty(Conflict):
    code, title = "wallet_not_empty", "Wallet not empty"


class WalletFrozen(Conflict):
    code, title = "wallet_frozen", "Wallet frozen"


class WalletClosed(Conflict):
    code, title = "wallet_closed", "Wallet closed"
