"""Group commit: concurrent money movements of one process share one transaction.

Callers hand a movement to the writer of their database and wait for its own result.
One writer thread per database drains whatever is waiting, up to `max_batch`
movements, into one `engine.execute` call: one transaction, one commit. It never
waits on a timer: a lone movement is taken at once, and movements that arrive while
a commit runs form the next batch, so the batch grows with the load by itself.

A refusal (insufficient funds, frozen, closed, a reused key) is a result like any
other and refuses only its own movement. An error that aborts the whole transaction
(a constraint the Python checks missed, a bug, a race still lost after the engine's
own retries) is isolated by splitting: each half runs again on its own, down to the
single movement that causes it, which alone gets the error. Its neighbours commit.

Several processes against one Postgres stay correct because each batch locks its
wallets in ascending id order in one transaction (the engine's rule), whichever
process runs it. The thread ends after a short idle spell and is started again by
the next movement, so a database that is no longer used holds no thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from gopherpayd.kit import metrics
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.transfers import engine
from gopherpayd.transfers.movements import MoneyMovement
from gopherpayd.transfers.outcomes import HoldChanged, Moved, MovementOutcome

logger = logging.getLogger("gopherpayd.writer")

DEFAULT_MAX_BATCH = 64
IDLE_SECONDS = 5.0
"""How long a writer thread waits for work before it ends (the next movement starts one)."""

Apply = Callable[[Database, list[MoneyMovement], int], list[MovementOutcome]]


def _apply(db: Database, movements: list[MoneyMovement], retries: int) -> list[MovementOutcome]:
    return engine.execute(db, movements, retries=retries)


@dataclass
class _Job:
    movement: MoneyMovement
    future: Future[MovementOutcome] = field(default_factory=Future)


@dataclass
class _Group:
    """An atomic batch: committed alone, all or nothing, never merged with others nor split."""

    movements: list[MoneyMovement]
    future: Future[list[MovementOutcome]] = field(default_factory=Future)


@dataclass
class WriterStats:
    """What the writer has done: batches committed and movements carried."""

    batches: int = 0
    movements: int = 0
    splits: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    """The last `RECENT` batch sizes, oldest first."""

    RECENT = 1000

    def note_batch(self, size: int, outcomes: list[MovementOutcome] | None = None) -> None:
        if outcomes is not None:
            fresh = [outcome for outcome in outcomes if not outcome.replayed]
            moved = sum(1 for outcome in fresh if isinstance(outcome, Moved | HoldChanged))
            metrics.note_batch(size, moved, len(fresh) - moved)
        self.batches += 1
        self.movements += size
        self.batch_sizes.append(size)
        del self.batch_sizes[: -self.RECENT]


class CoalescingWriter:
    """One database's queue of money movements and the thread that commits them in batches."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        retries: int = 8,
        apply: Apply = _apply,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        # Weak: the registry below is keyed by the database, and a value that held its key
        # strongly would keep every database (and its engine) alive for good.
        self._db = weakref.ref(db)
        self.max_batch = max_batch
        self.retries = retries
        self.stats = WriterStats()
        self._apply = apply
        self._idle_seconds = idle_seconds
        self._queue: queue.SimpleQueue[_Job | _Group] = queue.SimpleQueue()
        self._held: _Group | None = None
        """A group met while draining a batch: it goes next, alone (only the thread touches it)."""
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._waiting = 0
        self._pending = 0
        """Jobs queued and not yet taken; guarded by `_lock`, so a thread never ends with work left."""

    @property
    def pending(self) -> int:
        """Movements handed in and not answered yet: queued, or in the batch being committed."""
        with self._lock:
            return self._pending

    def submit(self, movement: MoneyMovement) -> Future[MovementOutcome]:
        """Queue a movement; the future holds its result, or the error it alone caused."""
        job = _Job(movement)
        job.future.add_done_callback(self._answered)
        self._enqueue(job)
        return job.future

    def submit_atomic(self, movements: list[MoneyMovement]) -> Future[list[MovementOutcome]]:
        """Queue an atomic batch; the future holds one outcome per movement, in order.

        The group gets a transaction of its own (`engine.execute(..., atomic=True)`): when
        any movement is refused, none moves and the others are refused `linked_failed`.
        """
        group = _Group(list(movements))
        group.future.add_done_callback(self._answered)
        self._enqueue(group)
        return group.future

    def _enqueue(self, job: _Job | _Group) -> None:
        with self._lock:
            self._pending += 1
            self._waiting += 1
            self._queue.put(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gopherpayd-writer", daemon=True)
                self._thread.start()

    def _answered(self, _future: Future[Any]) -> None:
        with self._lock:
            self._pending -= 1

    def execute(self, movement: MoneyMovement) -> MovementOutcome:
        """Run one movement in whatever batch it joins, and wait for its result."""
        return self.submit(movement).result()

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            if isinstance(batch, _Group):
                self._commit_group(batch)
            else:
                self._commit(batch)

    def _take(self) -> list[_Job] | _Group:
        """The first waiting job (after at most the idle spell) and every one behind it, up
        to the next group; a group is taken alone."""
        if self._held is not None:
            group, self._held = self._held, None
            return group
        try:
            first = self._queue.get(timeout=self._idle_seconds)
        except queue.Empty:
            with self._lock:
                if self._waiting == 0:
                    self._thread = None
                    return []
            first = self._queue.get()
        if isinstance(first, _Group):
            with self._lock:
                self._waiting -= 1
            return first
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Group):
                self._held = job
                break
            batch.append(job)
        with self._lock:
            self._waiting -= len(batch) + (self._held is not None)
        return batch

    def _commit_group(self, group: _Group) -> None:
        if not group.future.set_running_or_notify_cancel():
            return
        db = self._db()
        try:
            if db is None:
                raise RuntimeError("the database of this writer was closed")
            results = engine.execute(db, group.movements, retries=self.retries, atomic=True)
        except Exception as error:
            logger.warning("an atomic batch failed: %s", type(error).__name__)
            group.future.set_exception(error)
            return
        except BaseException as error:
            group.future.set_exception(error)
            raise
        self.stats.note_batch(len(group.movements), results)
        group.future.set_result(results)

    def _commit(self, batch: list[_Job]) -> None:
        """Commit the batch; when the whole transaction fails, split it until the culprit is alone."""
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]
        pending = [live] if live else []
        while pending:
            jobs = pending.pop()
            db = self._db()
            try:
                if db is None:
                    raise RuntimeError("the database of this writer was closed")
                results = self._apply(db, [job.movement for job in jobs], self.retries)
            except Exception as error:
                if len(jobs) == 1:
                    logger.warning("a money movement failed on its own: %s", type(error).__name__)
                    jobs[0].future.set_exception(error)
                    continue
                self.stats.splits += 1
                metrics.note_split()
                middle = len(jobs) // 2
                pending.extend([jobs[middle:], jobs[:middle]])
                continue
            except BaseException as error:
                for job in jobs:
                    job.future.set_exception(error)
                raise
            self.stats.note_batch(len(jobs), results)
            for job, result in zip(jobs, results, strict=True):
                job.future.set_result(result)
            del db


_writers: weakref.WeakKeyDictionary[Database, CoalescingWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer_for(db: Database) -> CoalescingWriter:
    """The one writer of this database in this process (made on first use)."""
    with _writers_lock:
        writer = _writers.get(db)
        if writer is None:
            writer = CoalescingWriter(db)
            _writers[db] = writer
        return writer


def writer_of(db: Database, settings: Settings) -> CoalescingWriter:
    """The writer of `db`, sized by the settings (read afresh: an operator or a test may change them)."""
    writer = writer_for(db)
    writer.max_batch = settings.transfer_batch_max
    writer.retries = settings.transfer_max_retries
    return writer


def commit(db: Database, settings: Settings, movement: MoneyMovement) -> MovementOutcome:
    """Run one movement through the writer of `db` and wait for its result."""
    return writer_of(db, settings).execute(movement)
