"""The gate app: a Textual terminal UI over the gate's verification core and the camera reader."""
