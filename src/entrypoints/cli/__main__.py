"""``python -m src.entrypoints.cli``: the ``phoenix-flywheel`` command without the script."""

import sys

from src.entrypoints.cli.commands import main

sys.exit(main())
