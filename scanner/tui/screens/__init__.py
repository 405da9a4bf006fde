"""Screens of the gate app, one main class per module."""
