"""Bearer API keys with roles, checked on every route but ``/health``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assistant.api.errors import ApiError
from assistant.api.keys import ApiKey
from assistant.api.state import ApiState, get_state

bearer = HTTPBearer(auto_error=False, description="An API key from 'shiftmate keys create'")


def require(role: str) -> Callable[..., ApiKey]:
    """Return a dependency that admits keys whose role includes ``role`` (else 401 or 403)."""

    def check(
        state: Annotated[ApiState, Depends(get_state)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(
                401,
                "missing_api_key",
                "an API key is required: send 'Authorization: Bearer <key>' (create one with "
                "'shiftmate keys create --role operator --name NAME')",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = state.keys.check(credentials.credentials)
        if key is None:
            raise ApiError(
                401,
                "invalid_api_key",
                "unknown or revoked API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
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
