"""``python -m assistant.cli``: the same as the ``shiftmate`` command."""

import sys

from assistant.cli.main import main

sys.exit(main())
