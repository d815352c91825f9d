"""`python -m gopherpay_cli` runs the `gopherpay` command."""

from gopherpay_cli.main import run

run()
