"""Shiftmate's operator terminal: a Textual app over the same services as the CLI and API."""
