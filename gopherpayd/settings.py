"""The daemon's one settings object, read from GOPHERPAY_* variables and an optional TOML file
(GOPHERPAYD_CONFIG; GOPHERPAY_CONFIG is the CLI's own config file).

Reading settings writes nothing: the generated JWT secret is created by ensure_signing_key, a
start-up step of the commands that sign or verify with it."""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

MIN_PRODUCTION_BCRYPT_ROUNDS = 10
_OFF_WORDS = {"", "false", "no", "off", "0"}
_ON_WORDS = {"true", "yes", "on", "1"}
JWT_SECRET_FILE = "jwt-secret"
CONFIG_VARIABLE = "GOPHERPAYD_CONFIG"
CLI_CONFIG_VARIABLE = "GOPHERPAY_CONFIG"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("gopherpay", appauthor=False))


def config_file_path() -> Path:
    explicit = os.environ.get(CONFIG_VARIABLE)
    if explicit:
        return Path(explicit)
    data_dir = os.environ.get("GOPHERPAY_DATA_DIR")
    return (Path(data_dir) if data_dir else default_data_dir()) / "gopherpayd.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOPHERPAY_", extra="ignore")

    environment: Literal["production", "development", "test"] = "production"
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    """Empty means the embedded default: a SQLite file in data_dir."""
    jwt_secret: str = ""
    """Empty means: generate 256 random bits on first start and keep them in data_dir (0600)."""
    jwt_issuer: str = "gopherpayd"
    jwt_audience: str = "gopherpay"
    access_token_ttl: int = Field(default=900, ge=1, le=86_400)
    """Seconds an access token stays valid."""
    refresh_token_ttl: int = Field(default=30 * 86_400, ge=60)
    """Seconds a session (refresh-token family) stays usable without activity."""
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    login_failures_before_backoff: int = Field(default=5, ge=1)
    """Failed logins for one account from one address before each further try must wait."""
    login_backoff_initial: int = Field(default=1, ge=1, le=3600)
    """Seconds the first backed-off try waits; the wait doubles with each further failure."""
    login_max_failures_per_account: int = Field(default=100, ge=1)
    """Failed logins for one account from all addresses together (a backstop against many addresses)."""
    login_max_failures_per_address: int = Field(default=50, ge=1)
    """Failed logins from one client address for all accounts together."""
    login_failure_window: int = Field(default=900, ge=1)
    """Seconds over which failed logins are counted for throttling; also the longest backoff."""
    signup_max_per_address: int = Field(default=20, ge=1)
    """Sign-ups (made or refused as taken) from one client address per signup_window."""
    signup_window: int = Field(default=3600, ge=1)
    """Seconds over which sign-ups are counted per client address."""
    transfer_max_retries: int = Field(default=8, ge=0, le=50)
    """How often the engine retries a batch after a deadlock or serialization failure."""
    transfer_batch_max: int = Field(default=64, ge=1, le=1000)
    """The most money movements the writer commits in one transaction (group commit)."""
    session_cache_seconds: float = Field(default=1.0, ge=0, le=10)
    """How long a checked session is believed without asking the database again: the longest
    time a session revoked by another daemon process keeps working here (0: ask every time)."""
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Proxy addresses or CIDRs (comma-separated) whose X-Forwarded-For is believed; empty: none."""
    require_verified_email: bool = True
    """Refuse to send money until the sender has verified their email address."""
    verification_code_ttl: int = Field(default=900, ge=60, le=86_400)
    """Seconds an email verification code stays valid."""
    fx_quote_ttl: int = Field(default=30, ge=1, le=3600)
    """Seconds an FX quote stays locked (usable) after it was made."""
    fx_rates_file: Path | None = None
    """A rates file read at start-up (serve), one rate per line: `SELL BUY RATE [SPREAD]`, e.g.
    `USD EUR 0.9213 0.5%` (RATE: BUY units one SELL unit buys, a plain decimal; SPREAD a
    percentage or a fraction, 0 when left out); blank lines and lines starting with # are
    skipped. A bad line stops the start. A pair an operator set with `gopherpay admin rates
    set` keeps the operator's rate; the file's others are set (audit-logged) when they differ."""
    kafka_bootstrap: str = ""
    """Kafka bootstrap servers (host:port,...). Empty: events are delivered in-process by serve."""
    kafka_topic_prefix: str = Field(default="gopherpay", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    """Topics are <prefix>.transfers, <prefix>.identity, <prefix>.wallets and <prefix>.dead-letters."""
    kafka_group_id: str = "gopherpay-notifications"
    """Consumer group of the notification workers."""
    novu_secret_key: SecretStr = SecretStr("")
    """Novu API key. Empty: Novu delivery is off and the in-app inbox is the channel."""
    novu_server_url: str = ""
    """Novu API base URL (empty: the SDK's default, Novu Cloud)."""
    novu_timeout_ms: int = Field(default=5_000, ge=100, le=120_000)
    """Milliseconds one Novu request may take."""
    delivery_max_attempts: int = Field(default=5, ge=1, le=50)
    """Novu deliveries tried per event before it goes to the dead-letter topic."""
    delivery_backoff_initial: float = Field(default=0.5, ge=0, le=60)
    """Seconds before the first retry of a failed delivery; doubles each time."""
    delivery_backoff_max: float = Field(default=8.0, ge=0, le=300)
    """Longest wait between two delivery attempts, in seconds."""
    deliver_events_in_process: bool = True
    """Without Kafka, let serve hand outbox events to the notification handlers itself."""
    hold_sweep_interval: float = Field(default=5.0, gt=0, le=3600)
    """Seconds between two sweeps that release expired holds (correctness never waits for one:
    expiry is decided in each capture's own transaction)."""
    event_poll_interval: float = Field(default=0.2, gt=0, le=10)
    """Seconds the relay and the in-process dispatcher wait when the outbox is empty (a commit
    wakes them sooner: on Postgres through LISTEN, in serve's own process at once)."""
    event_batch_size: int = Field(default=200, ge=1, le=5000)
    """The most events the relay or the in-process dispatcher publishes in one round, and the
    worker takes from Kafka at once."""
    worker_concurrency: int = Field(default=8, ge=1, le=64)
    """Users whose events one worker delivers at the same time (each user's stay in order)."""
    max_streams_per_user: int = Field(default=5, ge=1, le=1000)
    """Event streams (GET /v1/stream) one user may hold open on one daemon process."""
    http_header_timeout: float = Field(default=10.0, gt=0, le=300)
    """Seconds a client has to send a request's line and headers, from its first byte or the connection."""
    http_body_timeout: float = Field(default=30.0, gt=0, le=600)
    """Seconds a client has to send a request's body."""
    http_keep_alive_timeout: int = Field(default=5, ge=1, le=300)
    """Seconds an idle keep-alive connection stays open between requests."""
    shutdown_timeout: int = Field(default=10, ge=1, le=300)
    """Seconds serve waits for open requests to finish on SIGTERM or Ctrl-C before cutting them."""
    log_format: Literal["text", "json"] = "text"
    """text: one readable line per record; json: one JSON object per line (time, level, logger,
    message, request_id, and for access lines method, path, route, status, duration_ms, client)."""
    metrics_allow: Annotated[list[str], NoDecode] = Field(default=["127.0.0.0/8", "::1/128"])
    """Addresses or CIDRs (comma-separated) whose scrapes of serve's GET /metrics are answered;
    others get 403. Empty: /metrics is off. Requests relayed by a trusted proxy are refused."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_source = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
        return (init_settings, env_settings, toml_source)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: object) -> list[str]:
        """A list or a comma-separated string; the former boolean's `false` still means none."""
        word = str(value).strip().lower() if isinstance(value, bool | str) else None
        if word in _OFF_WORDS:
            return []
        if word in _ON_WORDS:
            raise ValueError(
                "GOPHERPAY_TRUSTED_PROXIES lists the proxies' addresses or CIDRs "
                "(e.g. 10.0.0.5,10.1.0.0/16); true would believe X-Forwarded-For from anyone"
            )
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("GOPHERPAY_TRUSTED_PROXIES must be a comma-separated list of addresses or CIDRs")
        networks = []
        for item in filter(None, (str(item).strip() for item in items)):
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(f"GOPHERPAY_TRUSTED_PROXIES: {item!r} is no IP address or CIDR") from None
        return networks

    @field_validator("metrics_allow", mode="before")
    @classmethod
    def _metrics_networks(cls, value: object) -> list[str]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("GOPHERPAY_METRICS_ALLOW must be a comma-separated list of addresses or CIDRs")
        networks = []
        for item in filter(None, (str(item).strip() for item in items)):
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(f"GOPHERPAY_METRICS_ALLOW: {item!r} is no IP address or CIDR") from None
        return networks

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("GOPHERPAY_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL")
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production_values(self) -> Settings:
        if self.environment != "test" and self.bcrypt_rounds < MIN_PRODUCTION_BCRYPT_ROUNDS:
            raise ValueError(
                f"GOPHERPAY_BCRYPT_ROUNDS={self.bcrypt_rounds} is only allowed with "
                f"GOPHERPAY_ENVIRONMENT=test (minimum {MIN_PRODUCTION_BCRYPT_ROUNDS})"
            )
        if self.jwt_secret and len(self.jwt_secret.encode()) < 32:
            raise ValueError("GOPHERPAY_JWT_SECRET must be at least 32 bytes")
        if self.environment == "production" and self.access_token_ttl > 3600:
            raise ValueError("GOPHERPAY_ACCESS_TOKEN_TTL above 3600 seconds is refused in production")
        return self

    @cached_property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(item) for item in self.trusted_proxies)

    @cached_property
    def metrics_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(item) for item in self.metrics_allow)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'gopherpay.db'}"

    @property
    def is_embedded(self) -> bool:
        """The one-command default: a SQLite file, no Kafka."""
        return not self.database_url and not self.kafka_bootstrap

    @property
    def uses_kafka(self) -> bool:
        return bool(self.kafka_bootstrap)

    @property
    def novu_enabled(self) -> bool:
        return bool(self.novu_secret_key.get_secret_value())

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def jwt_secret_file(self) -> Path:
        """Where the generated JWT secret is kept when GOPHERPAY_JWT_SECRET is not set."""
        return self.data_dir / JWT_SECRET_FILE

    @cached_property
    def signing_key(self) -> str:
        """The JWT secret: configured, or the one ensure_signing_key generated. Only reads."""
        if self.jwt_secret:
            return self.jwt_secret
        try:
            return self.jwt_secret_file.read_text().strip()
        except FileNotFoundError:
            raise RuntimeError(
                f"no JWT secret: GOPHERPAY_JWT_SECRET is not set and {self.jwt_secret_file} does not "
                "exist yet (gopherpayd serve creates it on first start)"
            ) from None


def ensure_signing_key(settings: Settings) -> None:
    """Start-up: unless GOPHERPAY_JWT_SECRET is set, generate 256 random bits once and keep them in
    the data dir with mode 0600. Safe when several processes start at once (O_EXCL)."""
    if settings.jwt_secret:
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(settings.jwt_secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
