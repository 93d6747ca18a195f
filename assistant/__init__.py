"""Shiftmate: an on-premise assistant for plant floors (domain core and services)."""

__version__ = "0.1.0"
