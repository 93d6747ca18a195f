"""The telemetry core: per-tag ring buffers, window statistics and trends, limit alarms,
per-asset anomaly detection, the thread-safe store that ties them together, and the alarm
history kept in the journal."""
