"""The base of every wire model: the schema says exactly what is sent."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A JSON body Shiftmate sends.

    Fields have no defaults, so a shape built in one place can never silently miss a field
    another place fills in. A client reading one (the TUI over HTTP) ignores fields it does not
    know, so an older terminal keeps working against a newer server that added a field.
    """

    # The schema promises no undeclared field (this server sends none); parsing is lenient.
    model_config = ConfigDict(extra="ignore", json_schema_extra={"additionalProperties": False})
