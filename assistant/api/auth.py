"""Bearer API keys with roles, checked on every route but ``/health``.

The key itself is checked twice: by ``assistant.api.gatekeeper`` before any body is read, and
again with the role by the route's ``require(role)`` dependency.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from assistant.api.errors import ApiError
from assistant.api.keys import ApiKey, KeyStore
from assistant.api.state import ApiState, get_state

bearer = HTTPBearer(auto_error=False, description="An API key from 'shiftmate keys create'")


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header value, else None."""
    scheme, token = get_authorization_scheme_param(authorization)
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def identify(keys: KeyStore, token: str | None) -> ApiKey:
    """Return the live key a bearer token belongs to; ApiError 401 when none is sent or known."""
    if token is None:
        raise ApiError(
            401,
            "missing_api_key",
            "an API key is required: send 'Authorization: Bearer <key>' (create one with "
            "'shiftmate keys create --role operator --name NAME')",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = keys.check(token)
    if key is None:
        raise ApiError(
            401,
            "invalid_api_key",
            "unknown or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


def require(role: str) -> Callable[..., ApiKey]:
    """Return a dependency that admits keys whose role includes ``role`` (else 401 or 403)."""

    def check(
        state: Annotated[ApiState, Depends(get_state)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        token = None
        if credentials is not None and credentials.scheme.lower() == "bearer":
            token = credentials.credentials
        key = identify(state.keys, token)
        if not key.allows(role):
            raise ApiError(
                403, "forbidden", f"this needs the {role} role; the key '{key.name}' is {key.role}"
            )
        return key

    return check


Operator = Annotated[ApiKey, Depends(require("operator"))]
Supervisor = Annotated[ApiKey, Depends(require("supervisor"))]
Admin = Annotated[ApiKey, Depends(require("admin"))]
State = Annotated[ApiState, Depends(get_state)]
