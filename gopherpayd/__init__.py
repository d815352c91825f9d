"""GopherPay daemon: identity, wallets, transfers and operator API."""

__version__ = "0.1.0"
