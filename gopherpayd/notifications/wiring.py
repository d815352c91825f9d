"""Building the notification handler from the settings."""

from gopherpayd.kit.db import Database
from gopherpayd.notifications.handler import NotificationHandler
from gopherpayd.notifications.novu import NovuGateway
from gopherpayd.settings import Settings


def make_handler(db: Database, settings: Settings) -> NotificationHandler:
    """Inbox always; Novu too when a Novu key is configured."""
    return NotificationHandler(db, settings, NovuGateway(settings) if settings.novu_enabled else None)
