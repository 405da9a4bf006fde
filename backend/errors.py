"""Errors of the backend.

BackendError               root; ``code`` is a machine code, ``str(err)`` a human message
 +-- ConfigError           a required setting is missing or malformed (names the variable)
"""

from __future__ import annotations


class BackendError(Exception):
    """Root of every error the backend raises on purpose."""

    code = "backend_error"


class ConfigError(BackendError):
    code = "config_error"
