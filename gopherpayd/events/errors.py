"""Refusals of the live event stream."""

from gopherpayd.kit.errors import AppError


class TooManyStreams(AppError):
    status, code, title = 429, "too_many_streams", "Too many streams"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
