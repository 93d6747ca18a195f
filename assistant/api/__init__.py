"""Shiftmate's HTTP API (``shiftmate serve``): FastAPI over the same services as the CLI."""

from assistant.api.app import create_app

__all__ = ["create_app"]
