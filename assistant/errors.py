"""One error tree for the whole product; the edges map it to messages, HTTP statuses and exit
codes (``assistant.cli.exit_codes``, ``assistant.api.errors``).

ShiftmateError
├── ConfigError          a setting, config file or data directory is wrong
├── ModelError           a model file is missing, not GGUF, fails its checksum, or fails to load
│   └── ModelServerError an inference or embedding server cannot be reached or fails mid-answer
│                        (ShiftmateError and ModelError are defined in models/errors.py)
├── KnowledgeError       the knowledge base cannot ingest, store or search
│   └── DocumentError    one document cannot be read (corrupt, binary, empty, too large, ...)
├── ChatError            a question cannot be answered (empty question, unknown conversation, ...)
├── JournalError         the SQLite journal cannot be opened or migrated
├── TelemetryError       an unknown asset or tag, or telemetry that is not available
├── ConnectorError       an outside system (MQTT broker, ...) cannot be reached or refuses us
├── WorkOrderError       a work order cannot be drafted, changed, approved or exported as asked
├── FeedbackError        feedback names no known answer or has invalid fields
├── SyncError            the cloud outbox, uplink or receiver cannot do what was asked
├── AuthError            an API key is missing, unknown, revoked or lacks the role
└── UpdateError          a model update cannot be fetched, verified, installed or undone
"""

from __future__ import annotations

# The root and ModelError live in the model layer (models/ must not import assistant/); they are
# the same classes, so isinstance checks and `except ShiftmateError` cover both.
from models.errors import ModelError, ModelServerError, ShiftmateError

__all__ = [
    "AuthError",
    "ChatError",
    "ConfigError",
    "ConnectorError",
    "DocumentError",
    "FeedbackError",
    "JournalError",
    "KnowledgeError",
    "ModelError",
    "ModelServerError",
    "ShiftmateError",
    "SyncError",
    "TelemetryError",
    "UpdateError",
    "WorkOrderError",
]


class ConfigError(ShiftmateError):
    """A setting, the config file or the data directory is invalid."""


class KnowledgeError(ShiftmateError):
    """The knowledge base cannot ingest, store or search."""


class DocumentError(KnowledgeError):
    """One document cannot be turned into text; the message names the file and the reason.

    ``code`` names the limit a refused document is over (``too_many_pages``, ``zip_bomb``,
    ``parse_memory``, ...); it is empty for a document that is merely unreadable.
    """

    def __init__(self, source: str, reason: str, code: str = "") -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.code = code


class ChatError(ShiftmateError):
    """A question cannot be answered as asked."""


class JournalError(ShiftmateError):
    """The SQLite journal cannot be opened, migrated or written."""


class TelemetryError(ShiftmateError):
    """An unknown asset or tag was asked for, or telemetry is not available."""


class ConnectorError(ShiftmateError):
    """An outside system (the MQTT broker, ...) cannot be reached or refuses us."""


class WorkOrderError(ShiftmateError):
    """A work order cannot be drafted, edited, approved, rejected or exported as asked."""


class FeedbackError(ShiftmateError):
    """Feedback names an answer that does not exist, or its fields are invalid."""


class SyncError(ShiftmateError):
    """The cloud outbox, the uplink or the cloud receiver cannot do what was asked."""


class AuthError(ShiftmateError):
    """An API key is missing, unknown or revoked, or its role does not allow the action."""


class UpdateError(ShiftmateError):
    """A model update cannot be published, fetched, verified, smoke-tested, switched or undone."""
