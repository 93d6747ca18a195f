"""Who acts on a work order: the name they give (free text) and what vouches for it.

Over the HTTP API the API key vouches: its id, name and role are recorded beside the free-text
``by`` and its role alone decides what is allowed, so ``by: "supervisor-name"`` with an
operator key is recorded as that operator key and grants nothing. On this machine (the CLI,
the in-process terminal) the shell account vouches: anyone who can run the command can write
the journal file anyway, so a local actor has every role and is recorded as
``cli:<os user>`` (or ``local:<os user>``) beside the name typed with ``--by``.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.errors import WorkOrderError
from assistant.settings import default_operator

ROLES: tuple[str, ...] = ("operator", "supervisor", "admin")
LOCAL_PREFIXES: tuple[str, ...] = ("cli:", "local:")
"""How a local actor's key id starts; an API key's id is 12 hex digits, never with a colon."""
MAX_NAME = 80


class NotPermitted(WorkOrderError):
    """The actor may not do this (a role it lacks, or approving its own draft)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """One person acting: the ``by`` name and the key (or local account) that vouches."""

    name: str
    key_id: str
    key_name: str | None = None
    role: str | None = None
    """The API key's role; None for a local actor, who has every role."""

    @property
    def is_local(self) -> bool:
        """Return whether this actor is vouched for by the local account, not an API key."""
        return self.key_id.startswith(LOCAL_PREFIXES)

    def allows(self, role: str) -> bool:
        """Return whether this actor holds ``role`` (admin > supervisor > operator)."""
        return self.role is None or ROLES.index(self.role) >= ROLES.index(role)

    def named(self, what: str) -> Actor:
        """Return this actor with its name stripped; refuse an empty or too long name."""
        name = self.name.strip()
        if not name:
            raise WorkOrderError(f"{what} needs the operator's name (--by NAME)")
        if len(name) > MAX_NAME:
            raise WorkOrderError(
                f"{what}: the operator's name is longer than {MAX_NAME} characters"
            )
        return Actor(name, self.key_id, self.key_name, self.role)


def local_actor(by: str, via: str = "local") -> Actor:
    """Return a local actor (the CLI: ``via="cli"``): the typed name and the OS account."""
    return Actor(name=by, key_id=f"{via}:{default_operator()}")


def api_actor(by: str | None, key_id: str, key_name: str, role: str) -> Actor:
    """Return the actor of an API request: ``by`` (default: the key's name) and the key."""
    name = by if by is not None and by.strip() else key_name
    return Actor(name=name, key_id=key_id, key_name=key_name, role=role)


def as_actor(by: str | Actor) -> Actor:
    """Return an actor as given, or a plain name as a local actor."""
    return by if isinstance(by, Actor) else local_actor(by)


def same_person(key_id: str | None, name: str, actor: Actor) -> bool:
    """Return whether ``actor`` is the one recorded as ``key_id``/``name``.

    Two API keys are compared by key id (the names are free text); when either side is local
    (or was recorded before key ids were), by the name, ignoring case and spacing.
    """
    if key_id and not key_id.startswith(LOCAL_PREFIXES) and not actor.is_local:
        return key_id == actor.key_id
    return " ".join(name.split()).casefold() == " ".join(actor.name.split()).casefold()
