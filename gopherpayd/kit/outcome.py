"""A result that carries a refusal out of a transaction that must still commit.

Some refusals change state that has to stick (a failed login is counted, a reused
refresh token revokes its family, a refused transfer is remembered under its
idempotency key). The service returns the refusal instead of raising it, the
caller commits, then `unwrap()` raises it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from gopherpayd.kit.errors import AppError

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    value: T | None = None
    error: AppError | None = None

    @classmethod
    def ok(cls, value: T) -> Outcome[T]:
        return cls(value=value)

    @classmethod
    def refused(cls, error: AppError) -> Outcome[T]:
        return cls(error=error)

    def unwrap(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # None only for Outcome[None]
