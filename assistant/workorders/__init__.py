"""Maintenance work orders: drafted by the model and code, approved and exported by people."""
