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


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]
