"""``python -m ticketgate`` runs the command line."""

from ticketgate.cli import main

raise SystemExit(main())
