"""The gate's side of the sync with the backend (the protocol itself: ``ticketcode.sync_protocol``).

- ``credentials``: the device token a pairing gives, in ``var/device.json`` (mode 0600)
- ``client``: the HTTP client (httpx): pair, pull a page, push scans; bounded, strict decoding
- ``pairing``: pair this gate (token, gate name, event)
- ``round``: one round, push then pull, and its report
- ``schedule``: when the gate app's background worker syncs next (interval, backoff while offline)
- ``progress``: the progress bar of a large pull on a terminal
- ``commands``: ``ticketgate pair`` and ``ticketgate sync``
"""
