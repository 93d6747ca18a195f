"""Connectors: everything that talks to the outside world, turning bytes into our own types."""
