"""ASGI entry point for uvicorn: the app built from the environment's settings."""

from gopherpayd.app import create_app
from gopherpayd.settings import Settings

app = create_app(Settings())
