"""The constrained output of a draft: the fields the model writes, as a pydantic model.

Its JSON schema (``model_json_schema()``) is turned into the llama.cpp grammar the model
generates against, so every field is present and every string and list is bounded. The model
is flat (no nested models), so the schema has no ``$defs``/``$ref`` for the grammar converter
to resolve; fields keep their order, which is the order the model writes them in.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, create_model

from assistant.workorders.model import Priority


def _bounded(low: int, high: int, scale: float) -> StringConstraints:
    # never shrunk below ten characters more than the minimum: a retry still says something
    return StringConstraints(min_length=low, max_length=max(low + 10, int(high * scale)))


def prose_model(with_steps: bool, scale: float = 1.0) -> type[BaseModel]:
    """Return the pydantic model of the fields the model writes (every string bounded).

    ``with_steps`` adds the steps (only when no procedure was found); ``scale`` shrinks the
    length limits: a retry after a cut-off answer asks for less.
    """
    fields: dict[str, Any] = {
        "problem": (Annotated[str, _bounded(15, 150, scale)], ...),
        "priority": (Priority, ...),
        "priority_reason": (Annotated[str, _bounded(5, 80, scale)], ...),
    }
    if with_steps:
        steps = list[Annotated[str, _bounded(8, 80, scale)]]
        fields["steps"] = (steps, Field(min_length=2, max_length=4))
    items = list[Annotated[str, _bounded(2, 30, scale)]]
    fields["parts"] = (items, Field(max_length=3))
    fields["tools"] = (items, Field(max_length=3))
    model: type[BaseModel] = create_model("DraftProse", **fields)
    return model


def prose_schema(with_steps: bool, scale: float = 1.0) -> dict[str, Any]:
    """Return the JSON schema of the fields the model writes, for the grammar."""
    return prose_model(with_steps, scale).model_json_schema()
