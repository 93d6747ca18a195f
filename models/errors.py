"""The model layer's errors, defined here so the model layer never imports the assistant package.

``ShiftmateError`` is the root of the product's whole error tree (see ``assistant.errors``,
which re-exports both classes); it lives at the bottom layer because a ``ModelError`` must be a
real subclass of it: ``except ShiftmateError`` at the edges has to catch what models/ raises.
"""

from __future__ import annotations


class ShiftmateError(Exception):
    """Base of every error Shiftmate raises on purpose; its message is meant for a person."""


class ModelError(ShiftmateError):
    """A model file is missing, is not a GGUF file, fails verification or cannot be loaded."""


class ModelServerError(ModelError):
    """The inference server (``models.backend = "openai"``) failed: unreachable, timed out,
    refused the request, or closed the stream mid-answer; the message names its URL."""
