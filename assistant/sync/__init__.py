"""Cloud sync: summarise and redact locally, queue durably, deliver exactly once.

``records`` builds conversation summaries and feedback records from the journal, ``redact``
removes personal data from every outgoing field, ``outbox`` keeps the queue in its own SQLite
file (``<data_dir>/outbox.sqlite3``), ``uploader`` drains it through a transport
(``connectors.uplink`` for HTTPS, ``connectors.mqtt.uplink`` for a cloud broker), and
``service`` ties them together for the CLI, the API and the TUI.
"""
