"""The central service: events, checkout, payments, the reaper, signed tickets and the HTTP/sync API."""
