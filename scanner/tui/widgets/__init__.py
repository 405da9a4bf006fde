"""Widgets of the gate screen, one main class per module."""
