"""bcrypt hashing with the length rules bcrypt itself cannot enforce politely."""

from functools import lru_cache

import bcrypt

from gopherpayd.identity.errors import PasswordTooLong, PasswordTooShort

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72
"""bcrypt only reads 72 bytes; longer input is refused rather than silently cut."""


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordTooShort(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise PasswordTooLong(
            f"password must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt ignores anything longer)"
        )


def hash_password(password: str, rounds: int) -> str:
    check_password_rules(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        return False
    return bcrypt.checkpw(encoded, password_hash.encode("ascii"))


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    return bcrypt.hashpw(b"no such account", bcrypt.gensalt(rounds)).decode("ascii")


def burn_equal_time(password: str, rounds: int) -> None:
    """Spend what a real check costs, so an unknown email is not told apart by timing."""
    verify_password(password, _dummy_hash(rounds))
