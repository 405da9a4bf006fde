"""``ticketgate monitor``: the organiser's live dashboard of one event (Textual), drawn from
``backend.dashboard.Snapshot``; only ``source`` and ``command`` touch the database."""
