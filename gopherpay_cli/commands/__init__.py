"""One Typer sub-app per noun, composed by gopherpay_cli.main."""
