"""The app's HTTP routes as one flat table: path templates, their patterns and methods.

Shared by the gatekeeper (which route a request is for, before its body is read) and the 405
handler (which methods a path allows).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import fastapi.routing
from starlette.routing import BaseRoute, compile_path
from starlette.types import Scope


@dataclass(frozen=True, slots=True)
class Template:
    """One route as the gate sees it: its path template, the pattern of that path, its methods."""

    route: Any
    path: str
    pattern: re.Pattern[str]
    methods: frozenset[str]


def templates(routes: Sequence[BaseRoute]) -> list[Template]:
    """Return every HTTP route of an app, routes of included routers too, in routing order."""
    # FastAPI 0.16x keeps included routers as one entry each; iter_route_contexts flattens them
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    flat: Iterable[Any] = flatten(routes) if flatten is not None else routes
    found = []
    for route in flat:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path and methods:
            found.append(Template(route, path, compile_path(path)[0], frozenset(methods)))
    return found


def matched(table: Sequence[Template], scope: Scope) -> Template | None:
    """Return the route that will serve the request, or None (the router answers 404 or 405)."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]  # routes are matched below the mount point, as the router does
    for template in table:
        if scope["method"] in template.methods and template.pattern.match(path):
            return template
    return None
