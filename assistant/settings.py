"""The one settings tree: defaults < TOML file < ``SHIFTMATE_*`` environment < command line.

Nothing else in Shiftmate reads ``os.environ`` for configuration. Load once with
:func:`load_settings` and hand the result to :func:`assistant.services.build_services`.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from assistant.errors import ConfigError
from models.chat_format import known_chat_formats, unknown_format_message

DEFAULT_ASSET_PATTERN = r"\b[A-Z]{1,3}-\d{1,4}[A-Z]?\b"


SECRET_MASK = "**********"
"""How a SecretStr is dumped: never written out or shown."""


def default_data_dir() -> Path:
    """Return the per-user default data directory (XDG data home)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "shiftmate"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettings(_Section):
    """Which local models to load and how to run them."""

    llm: str = Field(
        "smollm2-135m-instruct",
        description="Registry name of an embedded chat model, or a path to any GGUF file.",
    )
    llm_sha256: str | None = Field(
        None, description="Expected sha256 of a GGUF given by path (verified at load)."
    )
    embedder: str = Field(
        "all-minilm-l6-v2",
        description="Registry name of an embedded embedder, or a sentence-transformers folder.",
    )
    embedder_backend: Literal["local", "openai"] = Field(
        "local",
        description=(
            "local: models.embedder in this process; openai: the /embeddings route of an "
            "OpenAI-compatible server (models.embedder_base_url, else models.base_url)."
        ),
    )
    embedder_base_url: str | None = Field(
        None,
        description="Embedding server base URL with its /v1 (default: models.base_url).",
    )
    embedder_server_model: str | None = Field(
        None, description="Model name sent to the embedding server (default: its first model)."
    )
    embedder_api_key: SecretStr | None = Field(
        None, description="Bearer token of the embedding server (default: models.api_key)."
    )
    embedder_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="Longest one embedding request may take."
    )
    embedder_retries: int = Field(
        2, ge=0, le=10, description="Retries of an embedding request that failed."
    )
    n_ctx: int = Field(4096, ge=512, le=131072, description="Context window in tokens.")
    n_threads: int | None = Field(None, ge=1, le=512, description="CPU threads; default all.")
    n_batch: int = Field(256, ge=8, le=8192, description="Prompt evaluation batch size.")
    seed: int = Field(0, description="Sampling seed, for repeatable answers.")
    verify: bool = Field(True, description="Verify sha256 checksums when loading models.")
    chat_format: str | None = Field(
        None,
        description=(
            "Chat format of the LLM: unset = from the GGUF (its template, else guessed from its "
            "metadata); or a llama-cpp-python format name such as 'gemma' or 'chatml'."
        ),
    )
    backend: Literal["llamacpp", "openai"] = Field(
        "llamacpp",
        description=(
            "llamacpp: run the GGUF in this process; openai: an OpenAI-compatible inference "
            "server at models.base_url (llama-server, llama_cpp.server, vLLM, Ollama); the "
            "prompt is still rendered and counted locally with models.llm's tokenizer."
        ),
    )
    base_url: str | None = Field(
        None,
        description="Inference server base URL with its /v1 (http://127.0.0.1:8080/v1).",
    )
    api_key: SecretStr | None = Field(None, description="Bearer token of the inference server.")
    server_model: str | None = Field(
        None, description="Model name sent to the server (default: models.llm's name)."
    )
    request_timeout_s: float = Field(
        120.0, gt=0, le=3600, description="Longest wait for the server's next bytes."
    )
    retries: int = Field(
        2, ge=0, le=10, description="Retries of a server request that failed before any token."
    )
    trusted_keys: tuple[str, ...] = Field(
        (),
        description=(
            "Ed25519 public keys (base64 or hex) whose signed model updates this site installs "
            "(shiftmate cloud keygen prints one); none: no update is installed."
        ),
    )
    smoke_timeout_s: float = Field(
        120.0, gt=0, le=3600, description="Longest a new model may take to load and answer."
    )

    @field_validator("llm_sha256")
    @classmethod
    def _hex_digest(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ValueError("must be a 64-character hex sha256 digest")
        return value.lower() if value else value

    @field_validator("chat_format")
    @classmethod
    def _known_chat_format(cls, value: str | None) -> str | None:
        if value is not None and value not in known_chat_formats():
            raise ValueError(unknown_format_message(value))
        return value

    @model_validator(mode="after")
    def _embedding_server_needs_url(self) -> ModelSettings:
        if self.embedder_backend == "openai" and not (self.embedder_base_url or self.base_url):
            raise ValueError(
                "models.embedder_backend = 'openai' needs models.embedder_base_url (or "
                "models.base_url), the embedding server's URL, e.g. http://127.0.0.1:8080/v1"
            )
        return self

    @field_validator("base_url", "embedder_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http:// or https:// URL such as http://127.0.0.1:8080/v1")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _server_needs_url(self) -> ModelSettings:
        if self.backend == "openai" and self.base_url is None:
            raise ValueError(
                "models.backend = 'openai' needs models.base_url, the inference server's URL "
                "(for example http://127.0.0.1:8080/v1)"
            )
        return self


class KnowledgeSettings(_Section):
    """How documents are chunked, stored and searched."""

    collection: str = Field(
        "plant_documents", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,61}[a-zA-Z0-9]$"
    )
    chunk_chars: int = Field(900, ge=200, le=8000, description="Target passage size.")
    max_file_mb: float = Field(50.0, gt=0, le=4096, description="Larger files are refused.")
    asset_pattern: str = Field(
        DEFAULT_ASSET_PATTERN, description="Regular expression that finds asset tags in text."
    )
    embed_batch: int = Field(64, ge=1, le=4096)
    max_pages: int = Field(2000, ge=1, le=1_000_000, description="PDFs with more are refused.")
    max_uncompressed_mb: float = Field(
        200.0, gt=0, le=65536, description="DOCX files that unpack to more are refused."
    )
    max_compression_ratio: float = Field(
        100.0,
        ge=2,
        le=1_000_000,
        description="A DOCX part over 1 MB unpacked, packed tighter than this, is a zip bomb.",
    )
    parse_memory_mb: int = Field(
        1024, ge=512, le=1_048_576, description="Address-space limit of the parsing process."
    )
    parse_timeout_s: float = Field(
        120.0, ge=1, le=86400, description="Longest one document may take to parse."
    )
    chroma_url: str | None = Field(
        None,
        description="A Chroma server (http(s)://host:port, e.g. `chroma run`) instead of the "
        "store in <data_dir>/chroma; the manifest and full-text index stay in the journal.",
    )
    chroma_token: SecretStr | None = Field(
        None, description="Token sent to the Chroma server as Authorization: Bearer."
    )
    chroma_timeout_s: float = Field(
        10.0, gt=0, le=600, description="Longest a Chroma server request may take."
    )
    hnsw_m: int = Field(32, ge=2, le=256, description="HNSW graph degree (M) of a new collection.")
    hnsw_construction_ef: int = Field(
        400, ge=1, le=10_000, description="HNSW candidate list when a new collection is built."
    )
    hnsw_search_ef: int = Field(
        400,
        ge=1,
        le=10_000,
        description="HNSW candidate list per query (applied to existing collections too).",
    )

    @field_validator("asset_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @field_validator("chroma_url")
    @classmethod
    def _chroma_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#:]+(:\d{1,5})?/?", value):
            raise ValueError("must be http(s)://host:port, such as http://127.0.0.1:8000")
        return value.rstrip("/") if value else value


class ChatSettings(_Section):
    """How questions are answered."""

    top_k: int = Field(5, ge=1, le=50, description="Passages retrieved per question.")
    min_score: float = Field(
        0.25, ge=-1.0, le=1.0, description="Passages below this cosine similarity are ignored."
    )
    max_tokens: int = Field(256, ge=16, le=8192, description="Longest answer in tokens.")
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    repeat_penalty: float = Field(
        1.15, ge=1.0, le=2.0, description="Penalty on repeated tokens (small models loop)."
    )
    history_turns: int = Field(4, ge=0, le=50, description="Earlier turns kept in the prompt.")
    followup_passages: int = Field(
        1,
        ge=0,
        le=50,
        description="New passages added in a follow-up turn (earlier ones stay visible).",
    )
    stop: tuple[str, ...] = Field((), description="Extra stop sequences.")
    telemetry_lines: int = Field(
        8, ge=0, le=100, description="Most live telemetry lines [T#] given with a question."
    )
    answer_mode: Literal["extractive", "hybrid", "generative"] = Field(
        "extractive",
        description=(
            "extractive: the answer quotes the documents' own words, no model call; hybrid: "
            "the model may add one checked lead sentence before the quotes; generative: the "
            "model writes the answer, every sentence strictly checked (for larger GGUFs)."
        ),
    )
    max_quotes: int = Field(
        5, ge=1, le=20, description="Most quoted units in an answer (a procedure counts as one)."
    )
    quote_floor: float = Field(
        0.34,
        ge=0.0,
        le=1.0,
        description="Relevance a quoted unit needs; below it the answer says it is not covered.",
    )
    confident_score: float = Field(
        0.45,
        ge=0.0,
        le=1.0,
        description="Below this relevance the quotes are introduced as the closest passages.",
    )


class PlantSettings(_Section):
    """Which plant file declares the assets, their tags and their MQTT mapping."""

    file: Path | None = Field(
        None, description="Plant file (TOML); without one, telemetry is off (the demo ships one)."
    )


class MqttSettings(_Section):
    """The plant's MQTT broker. Without a host, the connector stays off (demo: embedded broker)."""

    host: str | None = Field(None, description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    client_id: str = Field(
        "shiftmate-edge",
        min_length=1,
        max_length=64,
        description="Stable client id: the broker keeps its persistent session under it.",
    )
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = Field(None, description="CA bundle that signed the broker's cert.")
    cert_file: Path | None = Field(None, description="Client certificate (mutual TLS).")
    key_file: Path | None = Field(None, description="Client private key (mutual TLS).")
    keepalive_s: int = Field(30, ge=5, le=3600)
    qos: Literal[0, 1, 2] = 1
    clean_start: bool = Field(False, description="False keeps the session across reconnects.")
    session_expiry_s: int = Field(3600, ge=0, description="MQTT 5 session expiry.")
    reconnect_min_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)
    max_payload_bytes: int = Field(4096, ge=16, le=1_048_576)
    max_future_s: float = Field(300.0, ge=0, description="Timestamps further ahead are rejected.")
    max_age_s: float = Field(
        7 * 86400.0, ge=0, description="Timestamps older than this are rejected."
    )
    queue_size: int = Field(100_000, ge=100, description="Readings buffered for the core.")
    log_interval_s: float = Field(10.0, ge=0, description="At most one log line per reason.")


class TelemetrySettings(_Section):
    """How readings are kept, summarised, alarmed and checked for anomalies."""

    retention_s: float = Field(86400.0, gt=0, description="How long readings are kept.")
    max_points_per_tag: int = Field(
        86400, ge=10, description="Ring buffer size per tag (24 h at 1 Hz by default)."
    )
    stale_periods: float = Field(
        5.0, ge=1, description="No data for this many expected periods means stale."
    )
    trend_window_s: float = Field(300.0, gt=0, description="Window for min/max/mean/slope.")
    persist: bool = Field(
        True,
        description="Keep live telemetry across restarts (reading log and snapshots in "
        "<data_dir>/telemetry/); one-shot CLI commands never persist.",
    )
    snapshot_interval_s: float = Field(
        300.0,
        ge=5,
        le=86400,
        description="Seconds between telemetry snapshots (and one at shutdown); the reading "
        "log covers what arrives in between.",
    )
    fsync: bool = Field(
        True,
        description="fsync the reading log before readings are acknowledged to the broker "
        "(off: a process crash still loses nothing, a power cut may lose the last seconds).",
    )
    anomaly: bool = Field(True, description="Run the per-asset anomaly detector.")
    anomaly_warmup_samples: int = Field(
        3600,
        ge=30,
        le=100_000,
        description="Full tag vectors of normal operation an asset's detector learns from first.",
    )
    anomaly_fast_s: float = Field(
        10.0, gt=0, le=3600, description="Time constant of the smoothing of each tag's value."
    )
    anomaly_score_s: float = Field(
        20.0, gt=0, le=3600, description="Time constant of the smoothing of the anomaly score."
    )
    anomaly_baseline_s: float = Field(
        600.0,
        gt=0,
        le=604_800,
        description="Time constant with which the learned normal follows slow drift "
        "(only while the asset is not anomalous).",
    )
    anomaly_quantile: float = Field(
        0.99, gt=0.5, lt=1.0, description="Quantile of the warm-up scores the threshold builds on."
    )
    anomaly_threshold_factor: float = Field(
        3.0, ge=1.0, le=100.0, description="Threshold = warm-up score quantile times this."
    )
    anomaly_clear_ratio: float = Field(
        0.7,
        gt=0.0,
        lt=1.0,
        description="An anomaly clears when the score falls below "
        "threshold times this (hysteresis).",
    )
    anomaly_min_change: float = Field(
        0.005,
        ge=0.0,
        le=1.0,
        description="Relative change of a tag (fraction of its typical level) always "
        "treated as noise, whatever the warm-up variance.",
    )
    anomaly_shrinkage: float = Field(
        0.3, ge=0.0, le=1.0, description="Shrinkage of the learned covariance to its diagonal."
    )


class WorkOrderSettings(_Section):
    """How work orders are drafted and exported."""

    export_dir: Path | None = Field(
        None, description="Folder for exported work orders (default <data_dir>/exports)."
    )
    mqtt_topic: str | None = Field(
        None, description="Topic approved work orders are published to with --mqtt (QoS 1)."
    )
    publish_timeout_s: float = Field(
        10.0, gt=0, le=600, description="How long a publish is retried until acknowledged."
    )
    max_tries: int = Field(3, ge=1, le=10, description="Drafting attempts before giving up.")
    max_tokens: int = Field(
        512, ge=64, le=4096, description="Longest model output for one draft in tokens."
    )
    top_k: int = Field(3, ge=1, le=20, description="Document passages cited in a draft.")
    allow_self_approval: bool = Field(
        False, description="Let the person (or API key) who drafted a work order approve it."
    )


def default_operator() -> str:
    """Return the OS user's name, the operator name when none is configured."""
    import getpass

    try:
        return getpass.getuser()[:80] or "operator"
    except (KeyError, OSError):
        return "operator"


class TuiSettings(_Section):
    """The operator terminal (shiftmate tui / demo)."""

    operator: str = Field(
        default_factory=default_operator,
        min_length=1,
        max_length=80,
        description="Name recorded with approvals, drafts and feedback (default: the OS user).",
    )
    refresh_s: float = Field(1.0, gt=0.05, le=60, description="How often live values redraw.")


DEFAULT_BADGE_PATTERNS: tuple[str, ...] = (
    r"(?i)\b(?:badge|employee|emp|staff)(?:\s*(?:no\.?|number|id|#))?\s*[:#]?\s*[A-Z]{0,3}-?\d{3,10}\b",
    r"\bEMP-?\d{4,10}\b",
)
DEFAULT_NATIONAL_ID_PATTERNS: tuple[str, ...] = (
    r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b",  # US social security number
    # UK national insurance number
    r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
    r"\b[12] ?\d{2} ?(?:0[1-9]|1[0-2]) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b",  # French NIR
    r"\b(?:\d{8}|[XYZ]-?\d{7})-?[TRWAGMYFPDXBNJZSQVHLCKE]\b",  # Spanish DNI / NIE
    r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b",  # Italian codice fiscale
    r"\b\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}\b",  # Belgian national number
)


class SyncSettings(_Section):
    """What goes to the cloud for retraining, how it is redacted, queued and sent."""

    offline: bool = Field(
        False, description="Never open the uplink; everything else works and the backlog grows."
    )
    site_id: str = Field(
        "site", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="This site's id."
    )
    transport: Literal["https", "mqtt"] = Field("https", description="How records are sent.")
    endpoint: str | None = Field(
        None, description="Cloud receiver base URL (https://host:port); none means no uplink."
    )
    token: SecretStr | None = Field(None, description="Bearer token of this site.")
    ca_file: Path | None = Field(None, description="CA bundle that signed the receiver's cert.")
    cert_file: Path | None = Field(None, description="Client certificate (mutual TLS).")
    key_file: Path | None = Field(None, description="Client private key (mutual TLS).")
    timeout_s: float = Field(10.0, gt=0, le=600, description="One request's time limit.")
    ack_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="MQTT: how long a batch waits for the receiver's reply after the broker's.",
    )
    gzip: bool = Field(True, description="Compress request bodies.")
    mqtt: MqttSettings = Field(
        MqttSettings(client_id="shiftmate-uplink"),
        description="The cloud broker (transport = mqtt); host none means no uplink.",
    )
    mqtt_topic: str = Field("shiftmate/uplink", min_length=1, description="Topic prefix.")
    idle_s: float = Field(
        1800.0, ge=0, description="A conversation quiet this long is summarised and queued."
    )
    summary_max_tokens: int = Field(160, ge=16, le=2048, description="Longest model summary.")
    batch_records: int = Field(100, ge=1, le=10_000, description="Most records per request.")
    batch_bytes: int = Field(
        512_000, ge=1024, le=64_000_000, description="Most uncompressed bytes per request."
    )
    backoff_min_s: float = Field(1.0, gt=0, le=3600, description="First retry delay.")
    backoff_max_s: float = Field(300.0, gt=0, le=86400, description="Longest retry delay.")
    bandwidth_bytes_s: int | None = Field(
        None, ge=256, description="Average upload cap in (sent) bytes per second; none: no cap."
    )
    interval_s: float = Field(30.0, gt=0, le=86400, description="Pause of `sync run` when idle.")
    background: bool = Field(
        True,
        description="Collect and send in the background of `serve` and `tui` (else run "
        "`shiftmate sync run` beside them).",
    )
    max_records: int = Field(
        100_000, ge=1, description="Retention limit: most records kept in the outbox."
    )
    max_bytes: int = Field(
        256_000_000, ge=1024, description="Retention limit: most bytes kept in the outbox."
    )
    overflow: Literal["drop_oldest", "reject_new"] = Field(
        "drop_oldest",
        description="Over a limit: drop the oldest records of the lowest priority, or refuse "
        "new ones; either way counted in `sync status`.",
    )
    roster: tuple[str, ...] = Field((), description="Names of people to redact.")
    roster_file: Path | None = Field(None, description="File with one name per line to redact.")
    badge_patterns: tuple[str, ...] = Field(
        DEFAULT_BADGE_PATTERNS, description="Regular expressions of badge and employee ids."
    )
    national_id_patterns: tuple[str, ...] = Field(
        DEFAULT_NATIONAL_ID_PATTERNS,
        description="Regular expressions of national id numbers (default: US SSN, UK NI, "
        "French NIR, Spanish DNI/NIE, Italian codice fiscale, Belgian national number).",
    )
    digit_run_min: int = Field(
        9,
        ge=7,
        le=32,
        description="Runs of this many digits or more (phone numbers without separators) "
        "are redacted, unless part of a decimal, time, id, quantity or Unix time.",
    )

    @field_validator("badge_patterns", "national_id_patterns")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from exc
        return value


class CloudSettings(_Section):
    """The cloud receiver (`shiftmate cloud serve`) and the training export."""

    data_dir: Path | None = Field(None, description="Receiver store (default <data_dir>/cloud).")
    database_url: SecretStr | None = Field(
        None,
        description="postgresql://user:password@host/db: store in PostgreSQL, several receivers "
        "at once (default: SQLite in data_dir). Never printed.",
    )
    host: str = Field("127.0.0.1", description="Address the receiver listens on.")
    port: int = Field(8787, ge=0, le=65535)
    tokens: dict[str, SecretStr] = Field(
        default_factory=dict, description="Site id to bearer token of the sites accepted."
    )
    ssl_certfile: Path | None = Field(None, description="Receiver TLS certificate (HTTPS).")
    ssl_keyfile: Path | None = Field(None, description="Receiver TLS private key.")
    max_body_bytes: int = Field(
        32_000_000,
        ge=1024,
        description="Larger requests (as sent, and uncompressed) are refused while they stream.",
    )
    max_json_depth: int = Field(
        32, ge=4, le=512, description="Batches nested deeper are refused (a batch's body is 4)."
    )
    health_token: SecretStr | None = Field(
        None, description="Bearer token of GET /v1/health for every site (a site's token: its own)."
    )
    dead_letter_max: int = Field(
        10_000, ge=0, description="Refused bodies kept for inspection (the newest; 0: none)."
    )
    keep_raw: bool = Field(
        False, description="Also keep every accepted body, uncompressed, its token masked."
    )
    mqtt: MqttSettings = Field(
        MqttSettings(client_id="shiftmate-cloud"),
        description="Cloud broker to take records from as well (host none: HTTPS only).",
    )
    mqtt_topic: str = Field("shiftmate/uplink", min_length=1, description="Topic prefix.")
    mqtt_shared_group: str | None = Field(
        None,
        pattern=r"^[^/+#$]+$",
        description="Subscribe as $share/<group>/<topic>: receivers in one group split the load.",
    )


class ApiSettings(_Section):
    """The HTTP API of ``shiftmate serve``: where it listens, its queue and its limits."""

    host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0 in a container).")
    port: int = Field(8080, ge=1, le=65535)
    queue_size: int = Field(
        8, ge=0, le=1000, description="Model requests that may wait behind the running one."
    )
    retry_after_s: int = Field(
        5, ge=1, le=3600, description="Retry-After sent with a refusal when the queue is full."
    )
    max_completion_tokens: int = Field(
        1024, ge=16, le=8192, description="Cap on max_tokens of an OpenAI-style request."
    )
    max_question_chars: int = Field(4000, ge=16, le=100_000, description="Longest question.")
    max_upload_mb: float = Field(20.0, gt=0, le=4096, description="Larger uploads get 413.")
    events_max_s: float = Field(
        600.0,
        gt=0,
        le=86400,
        description="An event stream ends after this long; clients reconnect (Last-Event-ID).",
    )
    heartbeat_s: float = Field(15.0, gt=0, le=3600, description="SSE keep-alive comment period.")
    events_per_key: int = Field(
        4, ge=1, le=1000, description="Open /v1/events streams one API key may hold; then 429."
    )
    events_total: int = Field(
        32, ge=1, le=10_000, description="Open /v1/events streams in all; then 429."
    )
    events_queue: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Events waiting for one slow /v1/events client; more are dropped and "
        "counted (shiftmate_events_dropped_total).",
    )
    shutdown_grace_s: float = Field(
        5.0, ge=0, le=600, description="How long open requests may finish at shutdown."
    )


class Settings(BaseSettings):
    """Everything Shiftmate can be told, in one tree."""

    model_config = SettingsConfigDict(
        env_prefix="SHIFTMATE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Field(default_factory=default_data_dir, description="Where all state lives.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    models: ModelSettings = ModelSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    chat: ChatSettings = ChatSettings()
    plant: PlantSettings = PlantSettings()
    mqtt: MqttSettings = MqttSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    workorders: WorkOrderSettings = WorkOrderSettings()
    tui: TuiSettings = Field(default_factory=TuiSettings)
    api: ApiSettings = ApiSettings()
    sync: SyncSettings = SyncSettings()
    cloud: CloudSettings = CloudSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls))


_file_values: ContextVar[Mapping[str, Any] | None] = ContextVar(
    "shiftmate_file_values", default=None
)


class _FileSource(PydanticBaseSettingsSource):
    """Values read from the TOML config file (lowest priority above the defaults)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_file_values.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_values.get() or {})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _field_kind(loc: tuple[int | str, ...]) -> Literal["plain", "secret", "unknown"]:
    """Return whether an error's location is a plain setting, a secret one or no setting."""
    annotation: Any = Settings
    for part in loc:
        model = _model_in(annotation)
        if model is None:
            break  # inside a value such as dict[str, SecretStr]: the field decides
        field = model.model_fields.get(str(part))
        if field is None:
            return "unknown"
        annotation = field.annotation
    return "secret" if _mentions_secret(annotation) else "plain"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """Return the settings section an annotation is (or holds in a union), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, UnionType):
        for arg in get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def _mentions_secret(annotation: Any) -> bool:
    """Return whether a field's type is or contains SecretStr (``SecretStr | None``, dicts)."""
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(arg) for arg in get_args(annotation))


def _describe(error: ValidationError, config_file: Path | None) -> str:
    """Return the message of invalid settings; a secret's value (or an unknown key's, which may
    be a misspelt secret) is never repeated, only its key and type."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(root)"
        got = item.get("input")
        msg = item["msg"]
        kind = _field_kind(item["loc"])
        if isinstance(got, dict):
            shown = ""
        elif kind == "plain":
            shown = f" (got {got!r})"
        else:
            if isinstance(got, str | int | float) and len(str(got)) >= 3:
                msg = msg.replace(str(got), SECRET_MASK)
            what = "secret" if kind == "secret" else "unknown key"
            shown = f" ({type(got).__name__} value not shown: {what})"
        lines.append(f"{key}: {msg}{shown}")
    where = f" in {config_file} or SHIFTMATE_* environment" if config_file else ""
    return f"invalid settings{where}: " + "; ".join(lines)


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the settings once: defaults, then the TOML file, then the environment, then overrides.

    ``config_file`` defaults to ``$SHIFTMATE_CONFIG``. ``overrides`` come from the command line
    (for example ``{"data_dir": Path(...)}``); ``None`` values are ignored. Any invalid value
    raises :class:`ConfigError` naming the key.
    """
    if config_file is None and os.environ.get("SHIFTMATE_CONFIG"):
        config_file = Path(os.environ["SHIFTMATE_CONFIG"])
    file_values = _read_toml(config_file) if config_file else {}
    token = _file_values.set(file_values)
    try:
        clean = {key: value for key, value in (overrides or {}).items() if value is not None}
        return Settings(**clean)
    except ValidationError as exc:
        # from None: the ValidationError's own text repeats every input value, secrets too.
        raise ConfigError(_describe(exc, config_file)) from None
    except SettingsError as exc:  # an environment value that is not the JSON a section needs
        raise ConfigError(f"invalid settings in the SHIFTMATE_* environment: {exc}") from None
    finally:
        _file_values.reset(token)


def to_toml(values: dict[str, Any]) -> str:
    """Render a settings dump as TOML that load_settings reads back."""
    lines = _toml_table(values, [])
    text = "\n".join(lines).lstrip("\n") + "\n"
    tomllib.loads(text)  # what we print must read back
    return text


def _toml_table(values: dict[str, Any], path: list[str]) -> list[str]:
    """Return a table's lines: its scalars first, then its sub-tables ``[a.b]``."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            tables.append((key, value))
        elif isinstance(value, dict):
            lines.append(f"{_toml_key(key)} = {{}}")
        elif value is None:
            if path:
                lines.append(f"# {key} = (unset)")
        elif value == SECRET_MASK:
            lines.append(f"# {key} = (set, secret: not shown)")
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, table in tables:
        sub = [*path, key]
        lines.append("\n[" + ".".join(_toml_key(part) for part in sub) + "]")
        lines += _toml_table(table, sub)
    return lines


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)
