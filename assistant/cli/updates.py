"""Signed model updates on the command line (docs/model-updates.md).

Cloud side: ``cloud keygen`` and ``cloud publish-model``. Edge side: ``models updates``,
``models update``, ``models rollback`` and ``models import``. They join the ``cloud`` and
``models`` groups that :mod:`assistant.cli.sync` and :mod:`assistant.cli.config` define, and
run through their own ``handler`` (see ``assistant.cli.main``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from assistant.cli.output import err, out, print_json
from assistant.errors import UpdateError
from assistant.settings import Settings


def _actions(parser: argparse.ArgumentParser) -> Any:
    """Return the sub-command action of an existing command group's parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError(f"{parser.prog} has no sub-commands")


def add_parsers(commands: Any) -> None:
    """Add the update commands to the existing ``cloud`` and ``models`` groups."""
    cloud = _actions(commands.choices["cloud"])
    keygen = cloud.add_parser("keygen", help="create the model signing key, print its public key")
    keygen.add_argument("--out", type=Path, help="key file (default <cloud dir>/signing.key)")
    keygen.set_defaults(handler=cmd_keygen)
    publish = cloud.add_parser("publish-model", help="sign a GGUF and offer it to the sites")
    publish.add_argument("file", type=Path, help="the GGUF (a chat model or a LoRA adapter)")
    publish.add_argument("--name", required=True)
    publish.add_argument("--version", dest="model_version", required=True)
    publish.add_argument("--kind", choices=("llm", "lora"), default="llm")
    publish.add_argument("--key", type=Path, help="signing key (default <cloud dir>/signing.key)")
    publish.add_argument(
        "--bundle", type=Path, help="write a bundle (folder, or .tar) for offline sites instead"
    )
    publish.set_defaults(handler=cmd_publish_model)

    models = _actions(commands.choices["models"])
    updates = models.add_parser("updates", help="what the cloud offers against what is installed")
    updates.add_argument("--json", action="store_true")
    updates.set_defaults(handler=cmd_updates)
    update = models.add_parser("update", help="download, verify, smoke-test and switch to a model")
    update.add_argument("name")
    update.add_argument("--version", dest="model_version", help="default: the newest offered")
    update.add_argument("--json", action="store_true")
    update.set_defaults(handler=cmd_update)
    rollback = models.add_parser("rollback", help="switch back to the previous model")
    rollback.set_defaults(handler=cmd_rollback)
    imported = models.add_parser("import", help="install a signed bundle from a file, offline")
    imported.add_argument("bundle", type=Path, help="a bundle folder or .tar")
    imported.add_argument("--json", action="store_true")
    imported.set_defaults(handler=cmd_import)


def _cloud_dir(settings: Settings) -> Path:
    from assistant.cloud.receiver import cloud_dir
    from assistant.services import prepare_data_dir

    return prepare_data_dir(cloud_dir(settings.cloud, settings.data_dir))


def cmd_keygen(settings: Settings, args: argparse.Namespace) -> int:
    """Create the signing key (mode 0600) and print its public key for models.trusted_keys."""
    from assistant.updates.manifest import generate_key
    from assistant.updates.publish import KEY_FILE

    path = args.out or _cloud_dir(settings) / KEY_FILE
    public = generate_key(path)
    err(f"private signing key written to {path} (keep it secret; it is never printed)")
    out(public)
    return 0


def cmd_publish_model(settings: Settings, args: argparse.Namespace) -> int:
    """Sign a GGUF; keep it for the receiver to serve, or write it as a bundle."""
    from assistant.updates.publish import KEY_FILE, publish, sign_file, write_bundle

    directory = _cloud_dir(settings)
    key = args.key or directory / KEY_FILE
    if not key.is_file():
        raise UpdateError(f"no signing key at {key}: create one with shiftmate cloud keygen")
    signed = sign_file(args.file, args.name, args.model_version, args.kind, key)
    m = signed.manifest
    if args.bundle is not None:
        where = write_bundle(signed, args.file, args.bundle)
        out(f"bundle of {m.name} {m.version} ({m.size} bytes, sha256 {m.sha256}) at {where}")
        return 0
    where = publish(directory / "models", args.file, signed)
    out(f"published {m.name} {m.version} ({m.size} bytes, sha256 {m.sha256}) in {where}")
    return 0


def _data_dir(settings: Settings) -> Path:
    from assistant.services import prepare_data_dir

    return prepare_data_dir(settings.data_dir)


def _rows(settings: Settings) -> list[dict[str, Any]]:
    from assistant.updates.download import ModelClient
    from assistant.updates.install import installed_path, read_pointer
    from assistant.updates.manifest import verify

    data_dir = _data_dir(settings)
    current = read_pointer(data_dir)["current"]
    active_sha = current.get("sha256") if isinstance(current, dict) else None
    with ModelClient(settings.sync) as client:
        offered = client.offered()
    rows = []
    for signed in offered:
        m = signed.manifest
        try:
            verify(signed, settings.models.trusted_keys)
            trust = "trusted"
        except UpdateError as exc:
            trust = f"untrusted: {exc}"
        path = installed_path(data_dir, m.name, m.version)
        rows.append(
            {
                **m.as_dict(),
                "signed_by": signed.key,
                "trust": trust,
                "installed": path.is_file(),
                "active": m.sha256 == active_sha,
            }
        )
    return rows


def cmd_updates(settings: Settings, args: argparse.Namespace) -> int:
    """List the models the cloud offers, whether they are trusted, installed and active."""
    from assistant.updates.install import read_pointer

    rows = _rows(settings)
    current = read_pointer(_data_dir(settings))["current"]
    if args.json:
        print_json({"current": current, "offered": rows})
        return 0
    using = (
        f"{current['name']} {current['version']}"
        if isinstance(current, dict)
        else f"{settings.models.llm} (models.llm)"
    )
    out(f"in use: {using}")
    for r in rows:
        mark = "*" if r["active"] else ("i" if r["installed"] else " ")
        trust = "trusted" if r["trust"] == "trusted" else "UNTRUSTED"
        out(
            f"{mark} {r['name']:<24} {r['version']:<12} {r['kind']:<5} {r['size']:>12} B "
            f"{trust}  {r['created']}"
        )
    if not rows:
        out("the cloud offers no models")
    out("(* = in use, i = installed)")
    return 0


def _progress() -> Any:
    shown = -1

    def report(have: int, total: int) -> None:
        nonlocal shown
        tenth = have * 10 // max(total, 1)
        if tenth != shown:
            shown = tenth
            err(f"downloaded {have} of {total} bytes ({have * 100 // max(total, 1)}%)")

    return report


def _report(installed: Any, json_output: bool) -> int:
    entry = installed.entry
    smoke = installed.smoke
    if json_output:
        print_json(
            {
                "installed": entry,
                "switched": installed.switched,
                "smoke": None
                if smoke is None
                else {
                    "answer": smoke.answer,
                    "completion_tokens": smoke.completion_tokens,
                    "seconds": round(smoke.seconds, 2),
                },
            }
        )
        return 0
    if smoke is not None:
        err(f"smoke test passed in {smoke.seconds:.1f} s: {smoke.answer!r}")
    what = f"{entry['name']} {entry['version']} (sha256 {entry['sha256']})"
    if installed.switched:
        out(f"switched to {what}")
    elif entry["kind"] != "llm":
        out(f"installed adapter {what} at {entry['path']}; adapters are not switched to")
    else:
        out(f"{what} is already in use")
    return 0


def cmd_update(settings: Settings, args: argparse.Namespace) -> int:
    """Download a published model resumably, verify it, smoke-test it, then switch to it."""
    from assistant.updates.download import ModelClient
    from assistant.updates.install import install, installed_path
    from assistant.updates.manifest import verify

    data_dir = _data_dir(settings)
    keys = settings.models.trusted_keys
    with ModelClient(settings.sync) as client:
        offered = [
            s
            for s in client.offered()
            if s.manifest.name == args.name
            and (args.model_version is None or s.manifest.version == args.model_version)
        ]
        if not offered:
            which = f"{args.name} {args.model_version}" if args.model_version else args.name
            raise UpdateError(f"the cloud offers no model {which} (shiftmate models updates)")
        signed = max(offered, key=lambda s: (s.manifest.created, s.manifest.version))
        verify(signed, keys)  # nothing untrusted is even downloaded
        m = signed.manifest
        target = installed_path(data_dir, m.name, m.version)
        source = target.with_name(target.name + ".download")
        if not target.is_file():
            client.download(m.name, m.version, source, m.size, _progress())
        else:
            source = target
    return _report(
        install(data_dir, signed, source, trusted_keys=keys,
                smoke_timeout_s=settings.models.smoke_timeout_s),
        args.json,
    )  # fmt: skip


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Install a signed bundle from a folder or tar, with no network."""
    from assistant.updates.install import install, open_bundle

    with open_bundle(args.bundle) as (signed, model):
        installed = install(
            _data_dir(settings),
            signed,
            model,
            trusted_keys=settings.models.trusted_keys,
            smoke_timeout_s=settings.models.smoke_timeout_s,
        )
    return _report(installed, args.json)


def cmd_rollback(settings: Settings, args: argparse.Namespace) -> int:
    """Switch back to the model in use before the last update."""
    from assistant.updates.install import rollback

    previous = rollback(_data_dir(settings))
    if previous is None:
        out(f"rolled back to {settings.models.llm} (models.llm)")
    else:
        out(
            f"rolled back to {previous['name']} {previous['version']} (sha256 {previous['sha256']})"
        )
    return 0
