"""Fixtures of the cloud tests: the real receiver factory shared with the sync tests."""

from tests.sync.conftest import make_receiver

__all__ = ["make_receiver"]
