"""The Examples section of every command's help (and of the man pages).

Keyed by the command path below the program (`""` is the program itself). Each
entry is a few lines: a `#` comment saying what the next command does, then the
command as a user types it. tests/cli/test_help.py checks that every command has one.
"""

from __future__ import annotations

CLI_EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "# sign up, verify, and look at your money",
        "gopherpay signup --email alice@example.com --name 'Alice Liddell'",
        "gopherpay verify 123456",
        "gopherpay balance",
        "# the same, as JSON for a script",
        "gopherpay balance --json",
        "gopherpay history --all --jq '.items[].id'",
    ),
    "signup": (
        "gopherpay signup --email alice@example.com --name 'Alice Liddell'",
        "# from a script: the password on stdin, no prompts",
        "printf '%s\\n' \"$PASSWORD\" | gopherpay --no-input signup --email a@example.com --name A "
        "--password-stdin",
    ),
    "login": (
        "gopherpay login --email alice@example.com",
        "# an operator account, kept beside your own",
        "gopherpay --profile ops login --email ops@example.com",
    ),
    "logout": ("gopherpay logout", "gopherpay --profile ops logout"),
    "whoami": ("gopherpay whoami", "gopherpay whoami --json email,role"),
    "auth": ("gopherpay auth status",),
    "auth status": (
        "gopherpay auth status",
        "# which login a script would use, as JSON",
        "gopherpay auth status --json",
    ),
    "verify": ("gopherpay verify 123456", "# the code expired or never came", "gopherpay verify --resend"),
    "sessions": ("gopherpay sessions list",),
    "sessions list": (
        "gopherpay sessions list",
        "gopherpay sessions list --all --json id,created_at",
    ),
    "sessions revoke": ("gopherpay sessions revoke 3f0c1a52-9d1e-4f7a-8b0e-2c6d5e4f3a21",),
    "password": ("gopherpay password change",),
    "password change": (
        "gopherpay password change",
        "# current password on the first line of stdin, the new one on the second",
        'printf \'%s\\n%s\\n\' "$OLD" "$NEW" | gopherpay password change --password-stdin',
    ),
    "tokens": ("gopherpay tokens create --name ci --scope read --expires 90d",),
    "tokens create": (
        "# a token that can only read, for a dashboard",
        "gopherpay tokens create --name dashboard --scope read --expires 90d",
        "# a token that may send money, for CI; shown once: store it as a secret",
        "gopherpay tokens create --name ci --scope transfer",
        "GOPHERPAY_TOKEN=gpt_... gopherpay balance --json",
    ),
    "tokens list": ("gopherpay tokens list", "gopherpay tokens list --json name,scope,expires_at"),
    "tokens revoke": ("gopherpay tokens revoke 6b1f2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d",),
    "api": (
        "gopherpay api GET /v1/me",
        "gopherpay api GET /v1/transfers --field limit=5 --jq '.items[].id'",
        "gopherpay api POST /v1/wallets --field currency=EUR",
    ),
    "completion": (
        "# bash: load it now, or put it in a file that ~/.bashrc sources",
        "source <(gopherpay completion bash)",
        'gopherpay completion zsh > "${fpath[1]}/_gopherpay"',
        "gopherpay completion fish > ~/.config/fish/completions/gopherpay.fish",
    ),
    "balance": (
        "gopherpay balance",
        "gopherpay balance usd",
        "gopherpay balance USD --jq .available",
        "# all your wallets in EUR at the current rates (indicative)",
        "gopherpay balance --in EUR",
    ),
    "fx": ("gopherpay fx rates", "gopherpay fx quote 100 USD EUR"),
    "fx quote": (
        "# what 100 USD buys in EUR, locked for a short time",
        "gopherpay fx quote 100 USD EUR",
        "# what it costs in USD to receive exactly 10,000 JPY",
        "gopherpay fx quote 10,000 USD JPY --receive",
    ),
    "fx rates": ("gopherpay fx rates", "gopherpay fx rates --json"),
    "exchange": (
        "# 100 USD of yours into EUR: shows the quote, asks, then exchanges",
        "gopherpay exchange 100 USD EUR",
        "# receive exactly 10,000 JPY, paying what the quote says in USD; no question",
        "gopherpay exchange 10,000 USD JPY --receive --yes",
    ),
    "wallets": ("gopherpay wallets list",),
    "wallets list": ("gopherpay wallets list", "gopherpay wallets list --json currency,balance"),
    "wallets open": ("gopherpay wallets open EUR",),
    "wallets close": ("gopherpay wallets close EUR",),
    "transfer": (
        "# asks before sending, naming the payee, the amount and the fee",
        "gopherpay transfer 12.34 USD --to bob@example.com --memo lunch",
        "# check recipient, funds and fee against the daemon, moving nothing",
        "gopherpay transfer 12.34 USD --to bob@example.com --dry-run",
        "# pay 100 USD of yours; bob receives EUR at the rate a quote locks",
        "gopherpay transfer 100 USD --to bob@example.com --receive EUR",
        "# from a script: no question; retry an unknown outcome at most once",
        "gopherpay transfer --yes 12.34 USD --to bob@example.com --idempotency-key 8d2f...",
        "# pay a file of payments; safe to run again after an interruption",
        "gopherpay transfer --from-file payments.csv",
        "# a receipt, by id or by the short id history shows",
        "gopherpay transfer show 71dda2be",
    ),
    "currencies": ("gopherpay currencies", "gopherpay currencies --json code,exponent"),
    "statement": (
        "# November 2026 in your time zone: opening balance, movements, totals, closing balance",
        "gopherpay statement 2026-11",
        "gopherpay statement 2026-11 --currency EUR --csv > statement.csv",
    ),
    "history": (
        "gopherpay history --currency USD --direction out",
        "# every transfer ever, streamed page by page",
        "gopherpay history --all --csv > history.csv",
        "gopherpay history --json id,amount,currency --since 2026-11-01",
        "gopherpay history --follow",
    ),
    "hold": (
        "# reserve 50 USD for bob for two days; he is paid when you capture it",
        "gopherpay hold 50 USD --to bob@example.com --expires 2d --memo 'flat deposit'",
        "# from a script: no question",
        "gopherpay hold 50 USD --to bob@example.com --expires 12h --yes",
    ),
    "holds": ("gopherpay holds --open",),
    "holds list": ("gopherpay holds list --open --limit 10",),
    "holds show": ("gopherpay holds show 5e2d7c10-8a4b-4c3d-9e1f-0a2b3c4d5e6f",),
    "holds capture": (
        "# pay 15 USD of it now, the rest later",
        "gopherpay holds capture 5e2d7c10-8a4b-4c3d-9e1f-0a2b3c4d5e6f 15",
        "# pay everything that is left",
        "gopherpay holds capture 5e2d7c10-8a4b-4c3d-9e1f-0a2b3c4d5e6f",
    ),
    "holds void": ("gopherpay holds void 5e2d7c10-8a4b-4c3d-9e1f-0a2b3c4d5e6f",),
    "holds decline": ("gopherpay holds decline 5e2d7c10-8a4b-4c3d-9e1f-0a2b3c4d5e6f",),
    "holds extend": ("gopherpay holds extend 5e2d7c10-8a4b-4c3d-9e1f-0a2b3c4d5e6f --expires 1d",),
    "notifications": ("gopherpay notifications --unread",),
    "notifications list": ("gopherpay notifications list --unread --limit 10",),
    "notifications read": (
        "gopherpay notifications read 5e2d7c10-8a4b-4c3d-9e1f-0a2b3c4d5e6f",
        "gopherpay notifications read --all",
    ),
    "admin": ("gopherpay --profile ops admin users --search bob",),
    "admin users": ("gopherpay --profile ops admin users --search example.com --all --json email",),
    "admin deposit": (
        "gopherpay --profile ops admin deposit alice@example.com 100.00 USD --reason 'cash at the branch'",
    ),
    "admin withdraw": (
        "gopherpay --profile ops admin withdraw alice@example.com 20.00 USD --reason 'cash withdrawal'",
    ),
    "admin freeze": (
        "gopherpay --profile ops admin freeze bob@example.com --reason 'fraud report 118'",
        "gopherpay --profile ops admin freeze bob@example.com --wallet USD --reason 'chargeback'",
    ),
    "admin unfreeze": ("gopherpay --profile ops admin unfreeze bob@example.com --reason 'cleared'",),
    "admin reverse": (
        "gopherpay --profile ops admin reverse 7f3a9c1e-5b0e-4d5e-9d6c-4f1f6b0a1a01 --reason 'sent in error'",
    ),
    "admin audit": (
        "gopherpay --profile ops admin audit",
        "gopherpay --profile ops --timeout 300 admin audit",
    ),
    "admin log": ("gopherpay --profile ops admin log --limit 20",),
    "admin rates": ("gopherpay --profile ops admin rates list",),
    "admin rates set": (
        "gopherpay --profile ops admin rates set USD EUR 0.9213 --spread 0.5%",
        "# a rate that quotes for one hour only",
        "gopherpay --profile ops admin rates set EUR USD 1.0854 --spread 0.4% --valid 1h --reason fixing",
    ),
    "admin rates list": (
        "gopherpay --profile ops admin rates list",
        "gopherpay --profile ops admin rates list --json",
    ),
    "admin events": ("gopherpay --profile ops admin events status",),
    "admin events status": ("gopherpay --profile ops admin events status --json",),
    "admin events dead-letters": ("gopherpay --profile ops admin events dead-letters --pending",),
    "admin events replay": (
        "gopherpay --profile ops admin events replay 42 --reason 'Novu was down'",
        "gopherpay --profile ops admin events replay --all --reason 'Novu was down'",
    ),
}

DAEMON_EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "# the embedded default: SQLite in the data directory, events in-process",
        "gopherpayd serve",
        "# Postgres, and Kafka for the events",
        "GOPHERPAY_DATABASE_URL=postgresql+psycopg://gopherpay@db/gopherpay gopherpayd serve",
    ),
    "serve": (
        "gopherpayd serve",
        "gopherpayd serve --host 0.0.0.0 --port 8443 --tls-cert cert.pem --tls-key key.pem",
    ),
    "migrate": ("gopherpayd migrate", "gopherpayd migrate --current", "gopherpayd migrate --history"),
    "create-admin": (
        "gopherpayd create-admin --email ops@example.com",
        "printf '%s\\n' \"$PASSWORD\" | gopherpayd create-admin --email ops@example.com --password-stdin",
    ),
    "set-role": ("gopherpayd set-role ops@example.com user",),
    "relay": ("GOPHERPAY_KAFKA_BOOTSTRAP=kafka:9092 gopherpayd relay",),
    "worker": ("GOPHERPAY_KAFKA_BOOTSTRAP=kafka:9092 gopherpayd worker",),
}
