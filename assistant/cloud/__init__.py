"""The cloud end of sync: a receiver that authenticates sites by token and de-duplicates by
idempotency key, a per-site store, and the export of training sets (SFT and DPO)."""
