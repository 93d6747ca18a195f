"""Exit codes, a command-line concern: each error family of ``assistant.errors`` has its own.

The codes are documented (docs/configuration.md) and scripts rely on them, so they never change
meaning; a new error class inherits its family's code through its bases.
"""

from __future__ import annotations

from assistant.errors import (
    AuthError,
    ChatError,
    ConfigError,
    ConnectorError,
    FeedbackError,
    JournalError,
    KnowledgeError,
    ModelError,
    ShiftmateError,
    SyncError,
    TelemetryError,
    UpdateError,
    WorkOrderError,
)
from models.errors import ModelServerError

OK = 0
SOME_FAILED = 1
"""A batch command (ingest) finished but some of its items failed."""
USAGE = 2
INTERRUPTED = 130

EXIT_CODES: dict[type[ShiftmateError], int] = {
    ShiftmateError: 1,
    ConfigError: 2,
    ModelError: 3,
    KnowledgeError: 4,
    ChatError: 5,
    JournalError: 6,
    ConnectorError: 7,
    TelemetryError: 8,
    WorkOrderError: 9,
    FeedbackError: 10,
    SyncError: 11,
    AuthError: 12,
    ModelServerError: 13,
    UpdateError: 14,
}


def exit_code(error: ShiftmateError) -> int:
    """Return the exit code of an error: that of its nearest class with one."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]  # type: ignore[index]
    return 1
