"""`gopherpayd`: run the daemon and its local maintenance commands."""

from __future__ import annotations

import errno
import functools
import getpass
import importlib.util
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from gopherpay_cli.examples import DAEMON_EXAMPLES
from gopherpay_cli.helpstyle import tidy
from gopherpayd import __version__
from gopherpayd.vocabulary import Role

if TYPE_CHECKING:
    import uvicorn

    from gopherpayd.identity.operators import AccountState
    from gopherpayd.kit.db import Database
    from gopherpayd.kit.metrics import Liveness
    from gopherpayd.settings import Settings

LOG_LEVELS = ("debug", "info", "warning", "error")
DAEMON_HELP_OPTION_NAMES = ["-h", "--help"]


class DaemonGroup(TyperGroup):
    """The root command, with help that names no Python types and gives examples."""

    def __init__(self, **attributes: Any) -> None:
        super().__init__(**attributes)
        tidy(self, DAEMON_EXAMPLES, help_option_names=DAEMON_HELP_OPTION_NAMES)


app = typer.Typer(
    name="gopherpayd",
    cls=DaemonGroup,
    help="GopherPay daemon: the HTTP API over the ledger, and its maintenance commands.\n\n"
    "Configuration comes from GOPHERPAY_* environment variables and the optional TOML file "
    "GOPHERPAYD_CONFIG (default: <data dir>/gopherpayd.toml; GOPHERPAY_CONFIG is the CLI's "
    "config file, not the daemon's). With no GOPHERPAY_DATABASE_URL the "
    "daemon keeps its data in a SQLite file in GOPHERPAY_DATA_DIR.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": DAEMON_HELP_OPTION_NAMES},
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
    _secure_data_dir(settings)
    _note_the_cli_config_variable()
    return settings


def _note_the_cli_config_variable() -> None:
    """An operator who pointed GOPHERPAY_CONFIG at the daemon's TOML hears where it goes now."""
    import os

    from gopherpayd.settings import CLI_CONFIG_VARIABLE, CONFIG_VARIABLE

    if os.environ.get(CLI_CONFIG_VARIABLE) and not os.environ.get(CONFIG_VARIABLE):
        typer.echo(
            f"gopherpayd: note: {CLI_CONFIG_VARIABLE} names the gopherpay CLI's config file and is not "
            f"read here; the daemon's TOML file is {CONFIG_VARIABLE}",
            err=True,
        )


def _secure_data_dir(settings: Settings) -> None:
    """The data directory 0700 and the embedded SQLite file 0600, before anything is written."""
    from gopherpayd.kit.files import private_sqlite_file, secure_data_dir

    note = secure_data_dir(settings.data_dir)
    if note is not None:
        typer.echo(f"gopherpayd: {note}", err=True)
    private_sqlite_file(settings.effective_database_url)


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

    from gopherpayd.kit.logs import logging_config
    from gopherpayd.migrate import upgrade_to_head
    from gopherpayd.settings import ensure_signing_key

    if (tls_cert is None) != (tls_key is None):
        typer.echo("gopherpayd: --tls-cert and --tls-key go together", err=True)
        raise typer.Exit(2)
    # Take the port before anything else: a second serve must not migrate or start work.
    listener = _listen(host, port)
    settings = _settings()
    _check_log_level(log_level)
    _check_rates_file(settings)
    if migrate:
        upgrade_to_head(settings.effective_database_url)
    ensure_signing_key(settings)  # before the workers start, so they all read the same one
    # After migrating, as before: the daemon's log starts with its own lines, not Alembic's.
    _configure_logging(settings, log_level)
    metrics_dir = _share_metrics_between_workers() if workers > 1 else None
    where = (
        "SQLite file " + settings.effective_database_url.removeprefix("sqlite:///")
        if settings.is_sqlite
        else "Postgres"
    )
    scheme = "https" if tls_cert else "http"
    typer.echo(f"gopherpayd {__version__}: {scheme}://{host}:{port} on {where}", err=True)
    config = uvicorn.Config(
        "gopherpayd.asgi:app",
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level=log_level,
        # Each worker process sets up logging from this (our format, the request-id filter);
        # the access log is the daemon's own (kit/http.py RequestLog), with timestamps.
        log_config=logging_config(log_level, settings.log_format),
        access_log=False,
        server_header=False,
        # X-Forwarded-For counts only from GOPHERPAY_TRUSTED_PROXIES (identity's client_info);
        # uvicorn's own handling would believe it from 127.0.0.1.
        proxy_headers=False,
        http=_http_protocol(settings),
        timeout_keep_alive=settings.http_keep_alive_timeout,
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )
    try:
        _run_server(config, listener)
    finally:
        if metrics_dir is not None:
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_rates_file(settings: Settings) -> None:
    """A GOPHERPAY_FX_RATES_FILE that cannot be used stops serve before it starts, in one line
    (the app reads it again at start-up, to set its rates)."""
    if settings.fx_rates_file is None:
        return
    from gopherpayd.fx.errors import RatesFileError
    from gopherpayd.fx.service import read_rates_file

    try:
        read_rates_file(settings.fx_rates_file)
    except RatesFileError as error:
        typer.echo(f"gopherpayd: {error}", err=True)
        raise typer.Exit(2) from None


def _check_log_level(log_level: str) -> str:
    level = log_level.lower()
    if level not in LOG_LEVELS:
        allowed = ", ".join(LOG_LEVELS)
        typer.echo(f"gopherpayd: --log-level must be one of {allowed}, not {log_level!r}", err=True)
        raise typer.Exit(2)
    return level


def _configure_logging(settings: Settings, log_level: str) -> None:
    from gopherpayd.kit.logs import configure

    configure(_check_log_level(log_level), settings.log_format)


def _share_metrics_between_workers() -> Path:
    """--workers N: the workers keep their counters in files of one fresh private directory,
    so a scrape answered by any of them counts all (prometheus-client's multiprocess mode).
    Set before any worker starts; serve removes it when it stops."""
    import os
    import tempfile

    from gopherpayd.kit.metrics import MULTIPROCESS_VARIABLE

    directory = Path(tempfile.mkdtemp(prefix="gopherpayd-metrics-"))
    os.environ[MULTIPROCESS_VARIABLE] = str(directory)
    return directory


def _start_metrics(settings: Settings, host: str, port: int, max_silence: float) -> Liveness:
    """relay and worker: /metrics and /healthz on host:port (port 0: none), and the liveness
    their loop beats."""
    from gopherpayd.events.metrics import EventsCollector
    from gopherpayd.kit.db import Database
    from gopherpayd.kit.metrics import Liveness, Scrape, serve_metrics

    liveness = Liveness(max_silence)
    if port:
        scrape = Scrape([EventsCollector(Database(settings.effective_database_url), settings)])
        try:
            serve_metrics(host, port, scrape, lambda: liveness.alive)
        except OSError as error:
            typer.echo(
                f"gopherpayd: cannot serve metrics on {host}:{port}: {error.strerror or error}", err=True
            )
            raise typer.Exit(1) from None
    return liveness


def _listen(host: str, port: int) -> socket.socket:
    from gopherpayd.kit.http import listening_socket

    try:
        return listening_socket(host, port)
    except OSError as error:
        reason = error.strerror or str(error)
        busy = error.errno == errno.EADDRINUSE
        hint = " (is another gopherpayd running? choose another --port)" if busy else ""
        typer.echo(f"gopherpayd: cannot listen on {host}:{port}: {reason}{hint}", err=True)
        raise typer.Exit(1) from None


def _http_protocol(settings: Settings) -> Any:
    from gopherpayd.kit.http import TimedH11Protocol

    # A partial of a module-level class: uvicorn pickles it for each worker process.
    return functools.partial(TimedH11Protocol, header_timeout=settings.http_header_timeout)


def _run_server(config: uvicorn.Config, listener: socket.socket) -> None:
    """uvicorn.run, on a socket that is already listening."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[listener]).run()
        else:
            server.run(sockets=[listener])
    except KeyboardInterrupt:
        pass  # Ctrl-C: the server has already shut down gracefully
    if config.workers == 1 and not server.started:
        raise typer.Exit(1)


@app.command("migrate")
def migrate_command(
    history: Annotated[
        bool, typer.Option("--history", help="List the migrations, oldest last, marking current and head.")
    ] = False,
    current: Annotated[
        bool, typer.Option("--current", help="Print the revision the database is at; change nothing.")
    ] = False,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="REV",
            help="Upgrade or downgrade to REV (a revision id or a unique prefix of one, head or base) "
            "instead of the newest. A downgrade can drop tables and columns with their data.",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm a downgrade without asking (scripts).")] = False,
) -> None:
    """Apply database migrations up to the newest (or --to REV); or show --history / --current."""
    from gopherpayd import migrate

    if sum((history, current, to is not None)) > 1:
        typer.echo("gopherpayd: --history, --current and --to go one at a time", err=True)
        raise typer.Exit(2)
    if to is not None:
        try:
            target = migrate.resolve_revision(to)
        except migrate.UnknownRevision as error:
            typer.echo(f"gopherpayd: --to: {error}", err=True)
            raise typer.Exit(2) from None
    settings = _settings()
    url = settings.effective_database_url
    if history or current:
        at = migrate.current_revision(url)
        known = migrate.revisions()
        if current:
            head = " (head)" if known and at == known[-1].id else ""
            typer.echo(f"{at}{head}" if at else "base (no migration applied)")
            return
        for item in reversed(known):
            marks = (" (head)" if item is known[-1] else "") + (" (current)" if item.id == at else "")
            typer.echo(f"{item.id}{marks}  {item.title}")
        return
    if to is None:
        migrate.upgrade_to_head(url)
        typer.echo("database is up to date", err=True)
        return
    order = [migrate.BASE, *(item.id for item in migrate.revisions())]
    before = migrate.current_revision(url) or migrate.BASE
    if before in order and order.index(target) < order.index(before):
        _confirm(f"Downgrade the database from {before} to {target}? Data in what it drops is lost.", yes)
    try:
        before_rev, after = migrate.migrate_to(url, target)
    except migrate.UnknownRevision as error:
        typer.echo(f"gopherpayd: {error}", err=True)
        raise typer.Exit(1) from None
    if (before_rev or migrate.BASE) == after:
        typer.echo(f"the database is already at {after}; nothing changed", err=True)
    else:
        typer.echo(f"migrated the database from {before_rev or migrate.BASE} to {after}", err=True)


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The operator's email address.")],
    name: Annotated[str, typer.Option(help="Full name.")] = "Operator",
    password_stdin: Annotated[
        bool,
        typer.Option(help="Read the password from standard input (without echo when it is a terminal)."),
    ] = False,
    promote_existing: Annotated[
        bool,
        typer.Option(
            help="If the address already has an account, make that account an admin; "
            "it keeps the password its owner chose."
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm a promotion without asking (scripts).")] = False,
    reason: Annotated[
        str, typer.Option(help="Why; recorded in the audit log.")
    ] = "operator account set up at the console",
) -> None:
    """Create an operator account (role admin); an existing account only with --promote-existing."""
    from gopherpayd.identity import operators, service
    from gopherpayd.kit.errors import AppError

    if promote_existing and password_stdin:
        typer.echo(
            "gopherpayd: --password-stdin cannot go with --promote-existing: a promoted account keeps "
            "the password its owner chose (they change it with: gopherpay password)",
            err=True,
        )
        raise typer.Exit(2)
    _check_reason(reason)
    email = _check_email(email, "--email ")
    settings, db = _database()
    existing = db.run(lambda s: operators.account_state(s, email))
    if existing is None:
        if promote_existing:
            typer.echo(
                f"gopherpayd: there is no account for {service.normalize_email(email)} to promote; "
                "drop --promote-existing to create one",
                err=True,
            )
            raise typer.Exit(1)
        try:
            password_hash = service.hash_new_password(settings, _read_new_password(password_stdin))
            user = db.run(lambda s: operators.create_admin(s, settings, email, name, password_hash, reason))
        except AppError as error:
            typer.echo(f"gopherpayd: {error.detail}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"created admin {user.email} ({user.id})", err=True)
        return
    if not promote_existing:
        typer.echo(
            f"gopherpayd: an account for {existing.email} already exists ({existing.describe()}); "
            "whoever signed up with that address chose its password. To make that account an "
            f"admin anyway: gopherpayd create-admin --email {existing.email} --promote-existing",
            err=True,
        )
        raise typer.Exit(1)
    _change_role(db, existing, Role.ADMIN, reason, "create-admin --promote-existing", yes)


@app.command("set-role")
def set_role(
    email: Annotated[str, typer.Argument(help="The account's email address.")],
    role: Annotated[str, typer.Option(help="The new role: user or admin.", metavar="user|admin")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm without asking (scripts).")] = False,
    reason: Annotated[
        str, typer.Option(help="Why; recorded in the audit log.")
    ] = "role changed at the console",
) -> None:
    """Give an existing account the role user or admin (e.g. undo a promotion), audited."""
    from gopherpayd.identity import operators, service

    if role not in tuple(Role):
        typer.echo(f"gopherpayd: --role must be user or admin, not {role!r}", err=True)
        raise typer.Exit(2)
    _check_reason(reason)
    email = _check_email(email, "")
    _, db = _database()
    existing = db.run(lambda s: operators.account_state(s, email))
    if existing is None:
        typer.echo(f"gopherpayd: there is no account for {service.normalize_email(email)}", err=True)
        raise typer.Exit(1)
    _change_role(db, existing, Role(role), reason, "set-role", yes)


def _check_reason(reason: str) -> None:
    """The audit log's reason, by the API's rule (ReasonRequest), before the database is opened."""
    from gopherpayd.admin.schemas import MAX_REASON_LENGTH

    if not 1 <= len(reason) <= MAX_REASON_LENGTH:
        typer.echo(
            f"gopherpayd: --reason must be 1 to {MAX_REASON_LENGTH} characters (it has {len(reason)})",
            err=True,
        )
        raise typer.Exit(2)


def _check_email(email: str, flag: str) -> str:
    """The address by the API's rules (valid, and still valid once normalised): its canonical form."""
    from gopherpayd.identity.emails import check_email
    from gopherpayd.identity.errors import InvalidEmail

    try:
        return check_email(email)
    except InvalidEmail as error:
        typer.echo(f"gopherpayd: {flag}{email} is not a valid email address: {error.detail}", err=True)
        raise typer.Exit(2) from None


def _database() -> tuple[Settings, Database]:
    from gopherpayd.kit.db import Database
    from gopherpayd.migrate import upgrade_to_head

    settings = _settings()
    upgrade_to_head(settings.effective_database_url)
    return settings, Database(settings.effective_database_url)


def _change_role(
    db: Database, existing: AccountState, role: Role, reason: str, command: str, yes: bool
) -> None:
    from gopherpayd.identity import operators

    if existing.role == role:
        typer.echo(
            f"{existing.email} already has the role {role} ({existing.describe()}); nothing changed", err=True
        )
        return
    typer.echo(f"{existing.email}: {existing.describe()}", err=True)
    _confirm(f"Give {existing.email} the role {role}?", yes)
    before, user = db.run(lambda s: operators.set_role(s, existing.email, role, reason, command))
    typer.echo(
        f"{user.email} now has the role {role} (was {before.role}); recorded in the audit log", err=True
    )


def _confirm(question: str, yes: bool) -> None:
    """--yes, or a yes typed at a terminal; without a terminal to ask on, refuse."""
    if yes:
        return
    if not sys.stdin.isatty():
        typer.echo("gopherpayd: not confirmed: no terminal to ask on; pass --yes to confirm", err=True)
        raise typer.Exit(1)
    if not typer.confirm(question, default=False, err=True):
        typer.echo("gopherpayd: nothing changed", err=True)
        raise typer.Exit(1)


def _read_new_password(from_stdin: bool) -> str:
    if not from_stdin:
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))
    if sys.stdin.isatty():
        # Typed at a terminal: never echo it.
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


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


MetricsHost = Annotated[str, typer.Option(help="Address of the --metrics-port listener.")]
MetricsPort = Annotated[
    int,
    typer.Option(
        min=0,
        max=65535,
        help="Serve GET /metrics (Prometheus) and GET /healthz (200 while the loop runs, else 503) "
        "on this TCP port; 0: none.",
    ),
]
LIVENESS_SECONDS = 60.0
"""/healthz of relay and worker answers 503 when the loop has not finished a round for this long."""


@app.command()
def relay(
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    metrics_host: MetricsHost = "127.0.0.1",
    metrics_port: MetricsPort = 0,
) -> None:
    """Publish committed outbox events to Kafka (several relays may run at once)."""
    from gopherpayd.events.dispatch import Relay
    from gopherpayd.events.kafka import ensure_topics, make_producer
    from gopherpayd.kit.db import Database

    settings = _settings()
    _require_kafka(settings, "relay")
    _configure_logging(settings, log_level)
    liveness = _start_metrics(settings, metrics_host, metrics_port, LIVENESS_SECONDS)
    ensure_topics(settings)
    publisher = Relay(Database(settings.effective_database_url), settings, lambda: make_producer(settings))
    publisher.after_round = liveness.beat
    _stop_on_signals(publisher.stop)
    typer.echo(f"gopherpayd relay: outbox -> Kafka at {settings.kafka_bootstrap}", err=True)
    publisher.run_forever()
    publisher.close()


@app.command()
def worker(
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    metrics_host: MetricsHost = "127.0.0.1",
    metrics_port: MetricsPort = 0,
) -> None:
    """Consume events from Kafka into the in-app inbox and Novu (a consumer-group member)."""
    from gopherpayd.events.kafka import ensure_topics
    from gopherpayd.kit.db import Database
    from gopherpayd.notifications.wiring import make_handler
    from gopherpayd.notifications.worker import Worker
    from gopherpayd.settings import ensure_signing_key

    settings = _settings()
    _require_kafka(settings, "worker")
    ensure_signing_key(settings)  # opens the sealed verification codes it emails
    _configure_logging(settings, log_level)
    liveness = _start_metrics(settings, metrics_host, metrics_port, LIVENESS_SECONDS)
    ensure_topics(settings)
    db = Database(settings.effective_database_url)
    consumer = Worker(settings, make_handler(db, settings))
    consumer.after_round = liveness.beat
    _stop_on_signals(consumer.stop)
    novu = "Novu and the inbox" if settings.novu_enabled else "the inbox (no Novu key)"
    typer.echo(f"gopherpayd worker: Kafka at {settings.kafka_bootstrap} -> {novu}", err=True)
    consumer.run_forever()


DAEMON_MODULES = (
    "fastapi",
    "uvicorn",
    "sqlmodel",
    "psycopg",
    "alembic",
    "pydantic_settings",
    "bcrypt",
    "jwt",
    "cryptography",
    "confluent_kafka",
    "novu_py",
    "prometheus_client",
)
"""What the `daemon` extra installs (by import name): a CLI-only install has none of them."""


def missing_daemon_modules() -> list[str]:
    return [name for name in DAEMON_MODULES if importlib.util.find_spec(name) is None]


def run() -> None:
    if missing := missing_daemon_modules():
        typer.echo(
            "gopherpayd: this is a CLI-only install (missing: "
            + ", ".join(missing)
            + "); the daemon needs its extra: pip install 'gopherpay[daemon]'",
            err=True,
        )
        raise SystemExit(1)
    app()
