"""``python -m ipdmeta.cli``: the same as the ``ipdmeta`` command."""

import sys

from ipdmeta.cli import main

sys.exit(main())
