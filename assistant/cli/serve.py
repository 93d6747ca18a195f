"""The CLI's API commands: ``serve`` (the HTTP API) and ``keys create|list|revoke``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from assistant.api.keys import ROLES, KeyStore
from assistant.cli.output import err
from assistant.services import build_services
from assistant.settings import Settings


def add_parsers(commands: Any) -> None:
    """Add serve and keys to the CLI's sub-parsers."""
    serve = commands.add_parser("serve", help="run the HTTP API (OpenAI-compatible chat too)")
    serve.add_argument("--host", help="address to listen on (default api.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default api.port, 8080)")

    keys = commands.add_parser("keys", help="create, list or revoke API keys")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key and print it (shown once)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--json", action="store_true")
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--json", action="store_true")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id")


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    """Create, list or revoke API keys (stored hashed in the journal)."""
    with build_services(settings) as services:
        store = KeyStore(services.db)
        if args.keys_command == "create":
            key, secret = store.create(args.role, args.name)
            if args.json:
                print(json.dumps({"id": key.id, "name": key.name, "role": key.role, "key": secret}))
            else:
                print(secret)
                err(f"key {key.id} ({key.role}, {key.name}) created; it is shown only now")
        elif args.keys_command == "list":
            keys = store.list()
            if args.json:
                print(
                    json.dumps(
                        [
                            {
                                "id": k.id,
                                "name": k.name,
                                "role": k.role,
                                "prefix": k.prefix,
                                "created_at": k.created_at,
                                "revoked_at": k.revoked_at,
                            }
                            for k in keys
                        ]
                    )
                )
            else:
                for k in keys:
                    state = f"revoked {k.revoked_at}" if k.revoked_at else "live"
                    print(f"{k.id}  {k.role:<10} {k.prefix}...  {k.created_at}  {state}  {k.name}")
        else:
            key = store.revoke(args.id)
            print(f"revoked {key.id} ({key.role}, {key.name})")
        return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Run the HTTP API until interrupted."""
    import uvicorn

    from assistant.api import create_app

    api = settings.api
    host = args.host or api.host
    port = args.port or api.port
    with build_services(settings) as services:
        # a stable client id: the broker keeps what arrives while the server restarts;
        # the models load before the first request
        services.start(telemetry="-api", preload=True, sync=settings.sync.background)
        if KeyStore(services.db).count_live() == 0:
            err(
                "no API keys yet: every route but /health will answer 401; create one with "
                "'shiftmate keys create --role admin --name NAME'"
            )
        app = create_app(services)
        err(f"Shiftmate API on http://{host}:{port} (OpenAPI schema at /openapi.json)")
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=int(api.shutdown_grace_s),
            # Longer than Retry-After, so a refused client's connection is still open when
            # it comes back (uvicorn's 5 s default races with a 5 s Retry-After).
            timeout_keep_alive=max(30, api.retry_after_s + 10),
        )
    return 0
