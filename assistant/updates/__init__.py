"""Signed model updates: published in the cloud, fetched or imported at the edge, verified,
smoke-tested, switched to atomically and rolled back (docs/model-updates.md)."""
