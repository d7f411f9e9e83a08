"""``python -m parkmatch``: the same as the ``parkmatch`` command."""

from parkmatch.cli import main

raise SystemExit(main())
