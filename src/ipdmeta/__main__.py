"""``python -m ipdmeta`` runs the command line, as the ``ipdmeta`` script does."""

from ipdmeta.cli import main

raise SystemExit(main())
