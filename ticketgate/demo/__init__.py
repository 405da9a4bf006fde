"""``ticketgate demo``: the whole system on one machine (sale, reaper, payments, gates, sync).

Told as it happens; see command.py for the modes and story.py for the plot.
"""
