"""The ``shiftmate`` command line, an edge over the services: nothing else imports this package.

One module per command group (knowledge, telemetry, work orders, sync and cloud, serve and keys,
the terminal UI, the demo, config and models); ``main`` parses, dispatches and maps errors to
exit codes.
"""

from assistant.cli.main import main

__all__ = ["main"]
