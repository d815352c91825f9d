"""What every request needs: settings and the database, kept on the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database


async def get_context(request: Request) -> AppContext:
    """Async although it awaits nothing: FastAPI runs a plain function dependency in a
    worker thread, a hand-off every request would pay for a dictionary lookup."""
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]
