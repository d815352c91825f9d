"""A short memory of sessions checked lately, so a request need not open a transaction to
learn who is calling.

An access token is verified locally (its signature and `exp`) on every request; what
the cache spares is the lookup that the session is still live and its account not
frozen. An entry lives `ttl` seconds at most (`GOPHERPAY_SESSION_CACHE_SECONDS`, 1 s by
default), and this process forgets every entry as soon as a transaction that revokes a
session, freezes an account or changes a role commits. So a revocation made by this
process takes effect at once, and one made by another daemon process (or by a
`gopherpayd` console command) within `ttl`. Money never leaves a frozen account even
inside that window: the engine checks the owner under its lock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlmodel import Session

if TYPE_CHECKING:  # the repository imports this module, and the service imports the repository
    from gopherpayd.identity.service import Principal

MAX_ENTRIES = 10_000
_CHANGED = "gopherpay.auth_changed"


class SessionCache:
    """Principals by session id, each with the moment it was read from the database."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[uuid.UUID, tuple[float, Principal]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, session_id: uuid.UUID, user_id: uuid.UUID) -> Principal | None:
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None:
                return None
            read_at, principal = entry
            if self._clock() - read_at >= self.ttl or principal.user_id != user_id:
                del self._entries[session_id]
                return None
            return principal

    def generation(self) -> int:
        """Take before reading the database; `put` refuses an entry read across a forget."""
        with self._lock:
            return self._generation

    def put(self, principal: Principal, read_at: float, generation: int) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if generation != self._generation:
                return  # a revocation committed while this principal was read: it may be stale
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[principal.session_id] = (read_at, principal)

    def now(self) -> float:
        return self._clock()

    def forget_all(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


_caches: list[SessionCache] = []
_caches_lock = threading.Lock()


def register(cache: SessionCache) -> SessionCache:
    """Make `cache` forget what it holds whenever an auth change commits in this process."""
    with _caches_lock:
        _caches.append(cache)
    return cache


def unregister(cache: SessionCache) -> None:
    with _caches_lock:
        if cache in _caches:
            _caches.remove(cache)


def note_auth_change(session: Session) -> None:
    """Mark the transaction: it revokes sessions, freezes an account or changes a role."""
    session.info[_CHANGED] = True
    _forget_everywhere()  # before the commit too, so no request re-caches the old state meanwhile


def _forget_everywhere() -> None:
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        cache.forget_all()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Any) -> None:
    if session.info.pop(_CHANGED, False):
        _forget_everywhere()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Any) -> None:
    session.info.pop(_CHANGED, None)
