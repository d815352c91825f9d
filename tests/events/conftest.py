"""Fixtures of the event tests: thin wrappers around the helpers in their modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# Plain asserts in the helpers explain their failures like those in the tests.
pytest.register_assert_rewrite("tests.events.pipeline", "tests.events.hold_steps")

from tests.events.pipeline import Pipeline, running_pipeline  # noqa: E402


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """Postgres, an in-memory Tansu broker, the Novu stand-in, and serve + relay + worker."""
    with running_pipeline(tmp_path) as running:
        yield running
