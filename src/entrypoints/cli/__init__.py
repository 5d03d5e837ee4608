"""``phoenix-flywheel``: the command line (every command and flag: docs/command-line.md).

``parser`` reads the arguments, ``commands`` runs the one asked (``process``, ``worker``,
``serve`` and ``demo`` have modules of their own) and ``output`` prints and exits.

Exit codes: 0 done, 1 the store is unreachable or not migrated, 2 bad input, 3 ``serve``
cannot listen on its address (the port is taken), or the user to forget has events in a
worker's hands (try again).
"""
