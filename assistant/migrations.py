"""Numbered schema migrations of the journal; append only, never edit a released one."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "knowledge manifest, conversations and turns",
        """
CREATE TABLE documents (
    path TEXT PRIMARY KEY,
    doc_key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    title TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    raw_answer TEXT NOT NULL,
    prompt_user TEXT NOT NULL,
    passages TEXT NOT NULL,
    citations TEXT NOT NULL,
    timings TEXT NOT NULL,
    checks TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX turns_by_conversation ON turns(conversation_id, id)
""",
    ),
    (
        2,
        "full-text index of chunks for hybrid (lexical + vector) retrieval",
        """
CREATE VIRTUAL TABLE chunk_text USING fts5(
    chunk_id UNINDEXED,
    body,
    tokenize = 'porter unicode61'
)
""",
    ),
    (
        3,
        "telemetry alarm and anomaly history",
        """
CREATE TABLE telemetry_events (
    id TEXT PRIMARY KEY,
    asset TEXT NOT NULL,
    tag TEXT NOT NULL,
    kind TEXT NOT NULL,
    level TEXT NOT NULL,
    state TEXT NOT NULL,
    ts REAL NOT NULL,
    value REAL,
    message TEXT NOT NULL,
    tag_values TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX telemetry_events_by_ts ON telemetry_events(ts);
CREATE INDEX telemetry_events_by_asset ON telemetry_events(asset COLLATE NOCASE, ts)
""",
    ),
    (
        4,
        "live telemetry lines [T#] given with each turn",
        """
ALTER TABLE turns ADD COLUMN telemetry TEXT NOT NULL DEFAULT '[]'
""",
    ),
    (
        5,
        "maintenance work orders, their edit history and export records",
        """
CREATE TABLE work_orders (
    id TEXT PRIMARY KEY,
    asset TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX work_orders_by_status ON work_orders(status, created_at);
CREATE TABLE work_order_edits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    work_order_id TEXT NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
    by_name TEXT NOT NULL,
    at TEXT NOT NULL,
    field TEXT NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL
);
CREATE INDEX work_order_edits_by_order ON work_order_edits(work_order_id, id);
CREATE TABLE work_order_exports (
    work_order_id TEXT PRIMARY KEY REFERENCES work_orders(id),
    exported_at TEXT NOT NULL,
    json_path TEXT NOT NULL,
    csv_path TEXT NOT NULL,
    mqtt_topic TEXT
)
""",
    ),
    (
        6,
        "operator feedback on answers",
        """
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
    rating TEXT NOT NULL,
    reason TEXT NOT NULL,
    comment TEXT NOT NULL,
    corrected_answer TEXT NOT NULL,
    by_name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX feedback_by_turn ON feedback(turn_id, id);
CREATE INDEX feedback_by_time ON feedback(created_at)
""",
    ),
    (
        7,
        "API keys of the HTTP API (only the sha256 of each key is stored)",
        """
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
""",
    ),
    (
        8,
        "answer units of each chunk (sentences, steps, table rows) with their offsets and vectors",
        """
CREATE TABLE chunk_units (
    chunk_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    start INTEGER NOT NULL,
    end_ INTEGER NOT NULL,
    text TEXT NOT NULL,
    marker TEXT NOT NULL,
    grp INTEGER NOT NULL,
    lead TEXT NOT NULL,
    vector BLOB,
    PRIMARY KEY (chunk_id, idx)
)
""",
    ),
    (
        9,
        "alarm acknowledgements: who acknowledged which raised event, when and through what",
        """
CREATE TABLE alarm_acks (
    event_id TEXT PRIMARY KEY REFERENCES telemetry_events(id) ON DELETE CASCADE,
    by_name TEXT NOT NULL,
    via TEXT NOT NULL,
    key_id TEXT,
    key_name TEXT,
    at TEXT NOT NULL
)
""",
    ),
    (
        10,
        "work-order audit keys (who vouched for each change) and export claims",
        """
ALTER TABLE work_order_edits ADD COLUMN key_id TEXT;
ALTER TABLE work_order_edits ADD COLUMN key_name TEXT;
CREATE TABLE work_order_export_claims (
    work_order_id TEXT PRIMARY KEY REFERENCES work_orders(id) ON DELETE CASCADE,
    token TEXT,
    pid INTEGER,
    host TEXT,
    by_name TEXT,
    key_id TEXT,
    claimed_at TEXT,
    claimed_ts REAL,
    published_topic TEXT,
    published_at TEXT
)
""",
    ),
]
