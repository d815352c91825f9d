"""Login and sign-up throttling: slow an attacker down without locking the owner out.

Failed logins are counted over `login_failure_window`, three ways:

- one account from one address: the first `login_failures_before_backoff` are free,
  then each further try waits `login_backoff_initial` seconds after the previous
  failure, doubling with every failure (at most the window). Someone guessing from
  one address gets about fifteen tries per window; the owner, on their own address,
  is not slowed at all by it.
- one address, all accounts: `login_max_failures_per_address`, then 429.
- one account, all addresses: `login_max_failures_per_account` (much higher), a
  backstop against guessing from many addresses. It never refuses an address the
  account has logged in from before (a session's client_ip): guessers from
  elsewhere cannot lock the owner out of their own devices, and those addresses
  still have their own backoff.

An address is an IPv4 address, or an IPv6 /64 (one host usually has a whole /64
to choose addresses from), for the per-address and the account-and-address counts.

An attempt is taken before the password is checked, atomically (locks per account
and address, count, refuse or record a provisional failure, commit), so parallel
guesses cannot all pass the count before any of them is recorded. bcrypt then runs
outside any transaction; a success deletes the provisional failure and the
account's earlier failures from that address. Unknown emails are counted exactly
like real accounts, so the throttle tells nobody whether an account exists.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from gopherpayd.identity import repository
from gopherpayd.identity.models import LoginFailure, SignupAttempt
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.errors import TooManyAttempts
from gopherpayd.settings import Settings

UNKNOWN_ADDRESS = "unknown"
IPV6_PREFIX = 64


def address_key(address: str | None) -> str:
    """What the throttle counts a client address as: IPv4 as is, IPv6 by its /64."""
    if not address:
        return UNKNOWN_ADDRESS
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False))
    return str(parsed)


def invalid_account_key(normalized_email: str) -> str:
    """The account key for an address no account can have (not valid once normalised): fixed width."""
    return "invalid:" + hashlib.sha256(normalized_email.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LoginAttempt:
    """A login being checked: recorded as a failure until it succeeds."""

    account: str
    address: str
    failure_id: uuid.UUID


def take_login_attempt(
    session: Session, settings: Settings, account: str, address: str | None
) -> LoginAttempt:
    """Refuse with 429 when throttled; else record the attempt as a failure (the caller commits)."""
    address = address_key(address)
    repository.lock_throttle_keys(session, [f"account:{account}", f"address:{address}"])
    now = utcnow()
    since = now - timedelta(seconds=settings.login_failure_window)
    waits = [
        _backoff(settings, repository.failures_since(session, since, account=account, address=address), now),
        _hard_limit(
            settings,
            repository.failures_since(session, since, address=address),
            settings.login_max_failures_per_address,
            now,
        ),
    ]
    if not _logged_in_from(session, account, address):
        waits.append(
            _hard_limit(
                settings,
                repository.failures_since(session, since, account=account),
                settings.login_max_failures_per_account,
                now,
            )
        )
    wait = max(waits)
    if wait > 0:
        raise TooManyAttempts("too many failed logins; wait before trying again", retry_after=wait)
    failure = LoginFailure(account=account, address=address, created_at=now)
    repository.add(session, failure)
    return LoginAttempt(account, address, failure.id)


def _logged_in_from(session: Session, account: str, address: str) -> bool:
    """Whether the account has had a session from this address (its /64 for IPv6)."""
    if address == UNKNOWN_ADDRESS:
        return False
    return any(address_key(known) == address for known in repository.session_addresses(session, account))


def login_succeeded(session: Session, attempt: LoginAttempt) -> None:
    repository.clear_failures(session, attempt.account, attempt.address)


def _backoff(settings: Settings, failures: list[datetime], now: datetime) -> int:
    """Seconds until one account may be tried again from one address (0: now)."""
    beyond = len(failures) - settings.login_failures_before_backoff
    if beyond < 0:
        return 0
    window = settings.login_failure_window
    delay = min(settings.login_backoff_initial * 2 ** min(beyond, 32), window)
    return _seconds_until(failures[-1] + timedelta(seconds=delay), now)


def _hard_limit(settings: Settings, failures: list[datetime], limit: int, now: datetime) -> int:
    """Seconds until fewer than `limit` failures are left in the window (0: now)."""
    if len(failures) < limit:
        return 0
    oldest_counted = failures[-limit]
    return _seconds_until(oldest_counted + timedelta(seconds=settings.login_failure_window), now)


def _seconds_until(moment: datetime, now: datetime) -> int:
    if moment <= now:
        return 0
    return max(math.ceil((moment - now).total_seconds()), 1)


def count_signup(session: Session, settings: Settings, address: str | None) -> None:
    """Refuse with 429 past the per-address sign-up limit; else count this sign-up."""
    address = address_key(address)
    repository.lock_throttle_keys(session, [f"signup:{address}"])
    now = utcnow()
    recent = repository.signups_since(session, address, now - timedelta(seconds=settings.signup_window))
    if len(recent) >= settings.signup_max_per_address:
        oldest_counted = recent[-settings.signup_max_per_address]
        wait = _seconds_until(oldest_counted + timedelta(seconds=settings.signup_window), now)
        raise TooManyAttempts(
            "too many sign-ups from this address; wait before trying again", retry_after=wait
        )
    repository.add(session, SignupAttempt(address=address, created_at=now))
