"""The command line's exit codes, one meaning each (docs/command-line.md, "Exit codes")."""

EXIT_OK = 0
EXIT_STORE = 1
"""The store is unreachable or not migrated; for ``worker-alive``, the worker is not."""
EXIT_INPUT = 2
"""Bad input or a wrong setting; nothing was written."""
EXIT_LISTEN = 3
"""``serve`` cannot listen on its address."""
EXIT_BUSY = 3
"""The same code as ``EXIT_LISTEN``: try again in a moment (``forget``)."""
