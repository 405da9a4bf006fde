"""The ``ticketgate`` command line: one command whose subcommands reach the backend and the scanner."""
