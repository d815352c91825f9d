"""Email verification: single-use, expiring codes, stored only as an HMAC.

The code travels to the mailbox in a `user.email_verification` event (outbox row,
Kafka record, dead letter), sealed: AES-GCM under a key derived from the daemon's
secret and bound to the user, opened only by the notification handler that hands
it to Novu. So nothing stored holds the code in clear; the embedded default's log
is the one deliberate exception (it has no mail to send).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import secrets
import uuid
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from gopherpayd.identity.errors import (
    AlreadyVerified,
    InvalidVerificationCode,
    VerificationCodeExpired,
)
from gopherpayd.identity.models import EmailVerification, User
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.errors import TooManyAttempts
from gopherpayd.kit.outcome import Outcome
from gopherpayd.outbox import service as outbox
from gopherpayd.settings import Settings
from gopherpayd.vocabulary import EventType

logger = logging.getLogger("gopherpayd.identity")
CODE_DIGITS = 6
MAX_WRONG_CODES = 5
MAX_CODES_PER_HOUR = 5
SEALED_CODE_KEY = "sealed_code"
"""The event payload's field holding the sealed code."""
_NONCE_BYTES = 12


class CodeUnreadable(Exception):
    """A sealed code that this daemon's secret does not open (changed secret, damaged payload)."""


def _sealing_key(settings: Settings) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"gopherpay email-verification code v1")
    return hkdf.derive(settings.signing_key.encode())


def seal_code(settings: Settings, user_id: uuid.UUID | str, code: str) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(_sealing_key(settings)).encrypt(nonce, code.encode(), str(user_id).encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def open_code(settings: Settings, user_id: uuid.UUID | str, sealed: str) -> str:
    """The code inside `seal_code`'s output for this user; CodeUnreadable if it does not open."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
        nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        return AESGCM(_sealing_key(settings)).decrypt(nonce, body, str(user_id).encode()).decode()
    except (InvalidTag, ValueError, UnicodeError) as error:
        raise CodeUnreadable(
            "the verification code in this event does not open with this daemon's secret "
            "(GOPHERPAY_JWT_SECRET must be the same for serve and worker)"
        ) from error


def _code_hash(settings: Settings, user: User, code: str) -> str:
    message = f"{user.id}:{code}".encode()
    return hmac.new(settings.signing_key.encode(), message, hashlib.sha256).hexdigest()


def send_code(session: Session, settings: Settings, user: User) -> int:
    """Issue a new code (earlier ones stop working) and send it; returns its lifetime in seconds."""
    now = utcnow()
    recent = session.exec(
        select(func.count())
        .select_from(EmailVerification)
        .where(
            EmailVerification.user_id == user.id,
            col(EmailVerification.created_at) >= now - timedelta(hours=1),
        )
    ).one()
    if recent >= MAX_CODES_PER_HOUR:
        raise TooManyAttempts(
            "too many verification codes requested; wait before asking again", retry_after=600
        )
    _retire_codes(session, user)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    session.add(
        EmailVerification(
            user_id=user.id,
            code_hash=_code_hash(settings, user, code),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.verification_code_ttl),
        )
    )
    session.flush()
    outbox.emit(
        session,
        EventType.USER_EMAIL_VERIFICATION,
        user.id,
        {SEALED_CODE_KEY: seal_code(settings, user.id, code), "expires_in": settings.verification_code_ttl},
    )
    if settings.is_embedded:
        # No mail goes out from the embedded default: the log is how a local user gets the code.
        logger.warning("email verification code for %s: %s", user.email, code)
    return settings.verification_code_ttl


def _retire_codes(session: Session, user: User) -> None:
    session.execute(
        update(EmailVerification)
        .where(col(EmailVerification.user_id) == user.id, col(EmailVerification.used_at).is_(None))
        .values(expires_at=utcnow())
    )


def verify(session: Session, settings: Settings, user: User, code: str) -> Outcome[User]:
    if user.email_verified_at is not None:
        return Outcome.refused(AlreadyVerified(f"{user.email} is already verified"))
    latest = session.exec(
        select(EmailVerification)
        .where(EmailVerification.user_id == user.id, col(EmailVerification.used_at).is_(None))
        .order_by(col(EmailVerification.created_at).desc())
        .limit(1)
        .with_for_update()
    ).first()
    now = utcnow()
    if latest is None or latest.expires_at <= now:
        return Outcome.refused(
            VerificationCodeExpired("the code has expired; ask for a new one: gopherpay verify --resend")
        )
    if latest.failed_attempts >= MAX_WRONG_CODES:
        retry_after = max(math.ceil((latest.expires_at - now).total_seconds()), 1)
        return Outcome.refused(
            TooManyAttempts(
                "too many wrong codes; ask for a new one: gopherpay verify --resend", retry_after=retry_after
            )
        )
    if not hmac.compare_digest(latest.code_hash, _code_hash(settings, user, code.strip())):
        latest.failed_attempts += 1
        session.add(latest)
        return Outcome.refused(
            InvalidVerificationCode("that is not the code we sent; check it and try again")
        )
    latest.used_at = now
    user.email_verified_at = now
    session.add(latest)
    session.add(user)
    session.flush()
    return Outcome.ok(user)
