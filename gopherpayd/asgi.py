"""ASGI entry point for uvicorn: the app built from the environment's settings."""

from gopherpayd.app import create_app
from gopherpayd.settings import Settings, ensure_signing_key

settings = Settings()
ensure_signing_key(settings)  # `gopherpayd serve` did it already; plain `uvicorn gopherpayd.asgi:app` not
app = create_app(settings)
