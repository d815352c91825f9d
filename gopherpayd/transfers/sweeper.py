"""The hold sweeper: releases holds whose expiry has passed, and announces it.

Correctness never waits for it: a capture after `expires_at` is refused by the engine in
its own transaction whether or not the sweeper has run. The sweeper only gives the money
back to the payer's available balance and emits `hold.expired`, by submitting one expire
movement per expired hold to the coalescing writer, like any other movement: several
daemons may sweep at once, and a hold captured, voided or expired meanwhile is refused
(`hold_not_open`) and left as it is.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future

from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.transfers import holds, repository, writer
from gopherpayd.transfers.outcomes import HoldChanged, MovementOutcome
from gopherpayd.vocabulary import HoldAction

logger = logging.getLogger("gopherpayd.holds.sweeper")

SWEEP_BATCH = 200
"""The most expired holds one sweep submits; a longer backlog is worked off sweep by sweep."""


def sweep_once(db: Database, settings: Settings, limit: int = SWEEP_BATCH) -> int:
    """Expire every open hold past its expiry (up to `limit`); the number expired."""
    expired = db.run(repository.expired_open_holds, utcnow(), limit)
    commits = writer.writer_of(db, settings)
    waiting: list[Future[MovementOutcome]] = [
        commits.submit(holds.settle_movement(None, hold_id, HoldAction.EXPIRE, None, initiated_by=placer))
        for hold_id, placer in expired
    ]
    return sum(1 for future in waiting if isinstance(future.result(), HoldChanged))


class HoldSweeper:
    """A daemon thread that sweeps every `settings.hold_sweep_interval` seconds."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gopherpayd-hold-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.wait(self._settings.hold_sweep_interval):
            try:
                sweep_once(self._db, self._settings)
            except Exception as error:  # the next sweep tries again; nothing was half done
                logger.warning("hold sweep failed: %s", type(error).__name__)
