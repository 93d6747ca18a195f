"""The cloud end of sync: a receiver that authenticates sites by token and de-duplicates by
idempotency key, a store per deployment (SQLite, or PostgreSQL for many receivers), the export
of training sets (SFT and DPO; JSONL, Parquet and a manifest) and answer quality per model."""
