"""The gate app: offline verification, local store, key store, camera capture and decoding, the TUI."""
