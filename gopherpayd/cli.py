"""`gopherpayd`: run the daemon and its local maintenance commands."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gopherpayd import __version__

if TYPE_CHECKING:
    from gopherpayd.settings import Settings

app = typer.Typer(
    name="gopherpayd",
    help="GopherPay daemon: the HTTP API over the ledger, and its maintenance commands.\n\n"
    "Configuration comes from GOPHERPAY_* environment variables and the optional TOML file "
    "GOPHERPAY_CONFIG (default: <data dir>/gopherpayd.toml). With no GOPHERPAY_DATABASE_URL the "
    "daemon keeps its data in a SQLite file in GOPHERPAY_DATA_DIR.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _settings() -> Settings:
    from pydantic import ValidationError

    from gopherpayd.settings import Settings

    try:
        settings = Settings()
    except ValidationError as error:
        for item in error.errors():
            typer.echo(f"gopherpayd: invalid configuration: {item['msg']}", err=True)
        raise typer.Exit(2) from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gopherpayd {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """GopherPay daemon."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8080,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply database migrations before serving.")] = True,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve the HTTP API (migrating the database first)."""
    import uvicorn

    from gopherpayd.kit.migrate import upgrade_to_head

    if (tls_cert is None) != (tls_key is None):
        typer.echo("gopherpayd: --tls-cert and --tls-key go together", err=True)
        raise typer.Exit(2)
    settings = _settings()
    if migrate:
        upgrade_to_head(settings.effective_database_url)
    settings.signing_key  # noqa: B018 - create the secret before workers race for it
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    where = (
        "SQLite file " + settings.effective_database_url.removeprefix("sqlite:///")
        if settings.is_sqlite
        else "Postgres"
    )
    scheme = "https" if tls_cert else "http"
    typer.echo(f"gopherpayd {__version__}: {scheme}://{host}:{port} on {where}", err=True)
    uvicorn.run(
        "gopherpayd.asgi:app",
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level=log_level,
        server_header=False,
    )


@app.command("migrate")
def migrate_command() -> None:
    """Apply database migrations up to the newest."""
    from gopherpayd.kit.migrate import upgrade_to_head

    settings = _settings()
    upgrade_to_head(settings.effective_database_url)
    typer.echo("database is up to date", err=True)


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The operator's email address.")],
    name: Annotated[str, typer.Option(help="Full name.")] = "Operator",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
) -> None:
    """Create an operator account (role admin), or promote an existing user."""
    from sqlmodel import Session

    from gopherpayd.identity import repository, service
    from gopherpayd.kit.clock import utcnow
    from gopherpayd.kit.db import Database
    from gopherpayd.kit.errors import AppError
    from gopherpayd.kit.migrate import upgrade_to_head

    settings = _settings()
    upgrade_to_head(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    existing = db.run(lambda s: repository.get_user_by_email(s, service.normalize_email(email)))
    if existing is not None:

        def promote(session: Session) -> None:
            existing.role = service.ADMIN_ROLE
            existing.email_verified_at = existing.email_verified_at or utcnow()
            repository.update_user(session, session.merge(existing))

        db.run(promote)
        typer.echo(f"{existing.email} is now an admin", err=True)
        return
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = db.run(
            lambda s: service.create_user(s, settings, email, name, password, role=service.ADMIN_ROLE)
        )
    except AppError as error:
        typer.echo(f"gopherpayd: {error.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created admin {user.email} ({user.id})", err=True)


def _stop_on_signals(stop: Callable[[], None]) -> None:
    def handle(_signum: int, _frame: object) -> None:
        stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _require_kafka(settings: Settings, command: str) -> None:
    if not settings.uses_kafka:
        typer.echo(
            f"gopherpayd {command}: set GOPHERPAY_KAFKA_BOOTSTRAP "
            "(without Kafka, serve delivers events itself)",
            err=True,
        )
        raise typer.Exit(2)


@app.command()
def relay(
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Publish committed outbox events to Kafka (several relays may run at once)."""
    from gopherpayd.events.dispatch import Relay
    from gopherpayd.events.kafka import ensure_topics, make_producer
    from gopherpayd.kit.db import Database

    settings = _settings()
    _require_kafka(settings, "relay")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    ensure_topics(settings)
    publisher = Relay(Database(settings.effective_database_url), settings, lambda: make_producer(settings))
    _stop_on_signals(publisher.stop)
    typer.echo(f"gopherpayd relay: outbox -> Kafka at {settings.kafka_bootstrap}", err=True)
    publisher.run_forever()
    publisher.close()


@app.command()
def worker(
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Consume events from Kafka into the in-app inbox and Novu (a consumer-group member)."""
    from gopherpayd.events.kafka import ensure_topics
    from gopherpayd.kit.db import Database
    from gopherpayd.notifications.wiring import make_handler
    from gopherpayd.notifications.worker import Worker

    settings = _settings()
    _require_kafka(settings, "worker")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    ensure_topics(settings)
    db = Database(settings.effective_database_url)
    consumer = Worker(settings, make_handler(db, settings))
    _stop_on_signals(consumer.stop)
    novu = "Novu and the inbox" if settings.novu_enabled else "the inbox (no Novu key)"
    typer.echo(f"gopherpayd worker: Kafka at {settings.kafka_bootstrap} -> {novu}", err=True)
    consumer.run_forever()


def run() -> None:
    app()
