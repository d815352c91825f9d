"""GopherPay command-line client: `gopherpay`."""
