"""The wire shapes Shiftmate speaks: one pydantic model per thing that leaves the process.

``--json``, the HTTP API's response models, the TUI's HTTP backend and the sync uplink all use
these, so a field added here shows up everywhere at once. Each model's ``from_domain`` builds it
from our frozen domain types; nothing here imports a service.
"""
