"""API keys: random bearer tokens with a role; only their sha256 is stored, in the journal."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Literal, get_args

from assistant.clock import now_iso
from assistant.db import Database
from assistant.errors import AuthError

Role = Literal["operator", "supervisor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
KEY_PREFIX = "smk_"
MAX_NAME = 80


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key as stored: never the key itself, only its hash and first characters."""

    id: str
    name: str
    role: Role
    prefix: str
    created_at: str
    revoked_at: str | None

    def allows(self, role: str) -> bool:
        """Return whether this key's role includes ``role`` (admin > supervisor > operator)."""
        return self.revoked_at is None and RANK[self.role] >= RANK[role]


def hash_key(key: str) -> str:
    """Return the stored form of a key (sha256; keys are 256-bit random, so no slow hash)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """Creates, checks, lists and revokes API keys."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, role: str, name: str) -> tuple[ApiKey, str]:
        """Create a key and return it with the secret, which is shown once and never stored."""
        if role not in ROLES:
            raise AuthError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise AuthError(f"a key needs a name of 1 to {MAX_NAME} characters")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            id=uuid.uuid4().hex[:12],
            name=name,
            role=role,  # type: ignore[arg-type]
            prefix=secret[:10],
            created_at=now_iso(),
            revoked_at=None,
        )
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, name, role, key_hash, prefix, created_at, revoked_at)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (key.id, key.name, key.role, hash_key(secret), key.prefix, key.created_at),
            )
        return key, secret

    def check(self, secret: str) -> ApiKey | None:
        """Return the live key a secret belongs to, or None (unknown or revoked)."""
        if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            return None
        row = self._db.query_one("SELECT * FROM api_keys WHERE key_hash = ?", (hash_key(secret),))
        if row is None or row["revoked_at"] is not None:
            return None
        return _key(row)

    def list(self) -> list[ApiKey]:
        """Return every key, revoked ones included, oldest first."""
        return [_key(r) for r in self._db.query("SELECT * FROM api_keys ORDER BY created_at, id")]

    def get(self, key_id: str) -> ApiKey | None:
        """Return one key by id, or None."""
        row = self._db.query_one("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        return _key(row) if row is not None else None

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key (kept for the record); AuthError when there is no such live key."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now_iso(), key_id),
            )
        key = self.get(key_id)
        if cursor.rowcount == 0 or key is None:
            raise AuthError(f"no live API key with id {key_id!r} (see 'shiftmate keys list')")
        return key

    def count_live(self) -> int:
        """Return how many keys are not revoked."""
        row = self._db.query_one("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL")
        return int(row[0]) if row is not None else 0


def _key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )
