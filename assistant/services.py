"""The one place that builds Shiftmate's services from the settings, and picks the adapters.

Models load lazily on first use, so ``docs list`` or ``config show`` never pay for them, and
tests can build two configurations side by side (nothing here is global). The CLI, the API and
the TUI share one lifecycle::

    with build_services(settings) as services:
        services.start(telemetry="-api", preload=True, sync=settings.sync.background)
        ...  # serve
    # closed: sync stopped, telemetry stopped, journal released
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from assistant.chat.quoting import UnitSource
from assistant.chat.service import ChatService
from assistant.db import Database
from assistant.domain import TelemetryEvent
from assistant.errors import ConfigError, SyncError
from assistant.feedback import FeedbackStore
from assistant.journal import Journal
from assistant.knowledge.ingest import Ingestor
from assistant.knowledge.lexical import LexicalIndex
from assistant.knowledge.manifest import Manifest
from assistant.knowledge.retrieval import Retriever
from assistant.knowledge.store import ChunkStore
from assistant.knowledge.unit_index import UnitIndex
from assistant.plant import PlantSpec, load_plant
from assistant.ports import MessagePublisher, Transport
from assistant.settings import MqttSettings, Settings
from assistant.sync.outbox import Outbox
from assistant.sync.service import SyncService
from assistant.telemetry.acks import AlarmAcks
from assistant.telemetry.history import AlarmHistory
from assistant.telemetry.live import LiveTelemetry
from assistant.telemetry.persistence import TelemetryPersistence, state_folder
from assistant.telemetry.store import TelemetryStore
from assistant.workorders.drafting import Drafter
from assistant.workorders.export import Exporter
from assistant.workorders.store import WorkOrderStore
from models import registry
from models.backend import ChatBackend
from models.chat import ChatModel
from models.embedder import Embedder, TextEmbedder
from models.offline import enforce_offline
from models.openai_embedder import ServerEmbedder

log = logging.getLogger(__name__)


def prepare_data_dir(path: Path) -> Path:
    """Create the data directory if needed and check that it is a writable folder."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the data directory {path}: {exc.strerror}") from exc
    if not path.is_dir():
        raise ConfigError(f"the data directory is not a folder: {path}")
    probe = path / ".write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"the data directory is not writable: {path} ({exc.strerror})") from exc
    return path


class Services:
    """Every service Shiftmate runs, built once from one Settings; a context manager."""

    def __init__(
        self,
        settings: Settings,
        *,
        chat_model: ChatBackend | None = None,
        embedder: TextEmbedder | None = None,
    ) -> None:
        """Hold the settings; already loaded models may be shared (the tests do this)."""
        self.settings = settings
        self._given_chat_model = chat_model
        self._given_embedder = embedder
        self._stop_sync: Callable[[], None] | None = None
        self.listening = False
        """True once live telemetry is being received from the broker."""

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(
        self,
        *,
        telemetry: str | None = None,
        transient: bool = False,
        preload: bool = False,
        sync: bool = False,
    ) -> Services:
        """Start what a running edge needs; everything started is stopped by ``close``.

        ``telemetry`` is the MQTT client-id suffix to listen with, when a plant and a broker
        are configured (a stable suffix lets the broker keep what arrives during a restart;
        ``transient`` clients get a clean session). ``preload`` loads the models now rather
        than at the first question; ``sync`` runs cloud sync in the background.
        """
        try:
            if (
                telemetry is not None
                and self.plant is not None
                and self.settings.mqtt.host is not None
            ):
                self.start_telemetry(client_id_suffix=telemetry, transient=transient)
            if preload:
                _ = self.chat
            if sync and self._stop_sync is None:
                self._stop_sync = self.sync.start_background()
        except BaseException:
            self.close()
            raise
        return self

    @property
    def data_dir(self) -> Path:
        """Return the directory that holds all state."""
        return self.settings.data_dir

    @cached_property
    def db(self) -> Database:
        """Return the journal database."""
        return Database(self.data_dir / "journal.sqlite3")

    @cached_property
    def journal(self) -> Journal:
        """Return the conversation journal."""
        return Journal(self.db)

    @cached_property
    def feedback(self) -> FeedbackStore:
        """Return the store of operator feedback on answers."""
        return FeedbackStore(self.db)

    @cached_property
    def manifest(self) -> Manifest:
        """Return the ingestion manifest."""
        return Manifest(self.db)

    @property
    def verify_cache(self) -> Path:
        """Return the file that caches model checksums by size and mtime."""
        return self.data_dir / "cache" / "verified-models.json"

    @cached_property
    def llm_model(self) -> registry.ResolvedModel:
        """Return the configured chat model's location (checked to be a GGUF file).

        With models.llm at its default, an update switched to (``<data_dir>/models/active.json``,
        :mod:`assistant.updates.install`) is used instead, checked against its signed sha256.
        """
        m = self.settings.models
        if m.llm == type(m).model_fields["llm"].default:
            from assistant.updates.install import active_llm

            active = active_llm(self.data_dir)
            if active is not None:
                return registry.resolve(str(active.path), "llm", active.sha256)
        return registry.resolve(m.llm, "llm", m.llm_sha256)

    @cached_property
    def llm_sha256(self) -> str:
        """Return the chat model's sha256 (verified against the expected one when known)."""
        return registry.require_verified(self.llm_model, self.verify_cache)

    @cached_property
    def chat_model(self) -> ChatBackend:
        """Load the chat model, or connect to its server (models.backend = "openai").

        The GGUF (for a server: the one whose tokenizer renders and counts prompts) is verified
        first when models.verify is on.
        """
        if self._given_chat_model is not None:
            return self._given_chat_model
        m = self.settings.models
        if m.verify:
            _ = self.llm_sha256
        if m.backend == "openai":
            from models.openai_chat import ServerChatModel

            if m.base_url is None:  # the settings refuse this; kept for Settings built by hand
                raise ConfigError("models.backend = 'openai' needs models.base_url")
            return ServerChatModel(
                m.base_url,
                self.llm_model.path,
                api_key=m.api_key.get_secret_value() if m.api_key else None,
                server_model=m.server_model,
                name=self.llm_model.name,
                n_ctx=m.n_ctx,
                seed=m.seed,
                timeout_s=m.request_timeout_s,
                retries=m.retries,
                chat_format=m.chat_format,
            )
        return ChatModel(
            self.llm_model.path,
            n_ctx=m.n_ctx,
            n_threads=m.n_threads,
            n_batch=m.n_batch,
            seed=m.seed,
            name=self.llm_model.name,
            chat_format=m.chat_format,
        )

    @cached_property
    def embedder(self) -> TextEmbedder:
        """Load the embedder (verified first when models.verify is on), or connect to its
        server (models.embedder_backend = "openai")."""
        if self._given_embedder is not None:
            return self._given_embedder
        m = self.settings.models
        if m.embedder_backend == "openai":
            base_url = m.embedder_base_url or m.base_url
            if base_url is None:  # the settings refuse this; kept for Settings built by hand
                raise ConfigError("models.embedder_backend = 'openai' needs models.base_url")
            key = m.embedder_api_key or m.api_key
            return ServerEmbedder(
                base_url,
                model=m.embedder_server_model,
                api_key=key.get_secret_value() if key else None,
                timeout_s=m.embedder_timeout_s,
                retries=m.embedder_retries,
                batch_size=self.settings.knowledge.embed_batch,
            )
        enforce_offline()
        resolved = registry.resolve(m.embedder, "embedder")
        if m.verify:
            registry.require_verified(resolved, self.verify_cache)
        return Embedder(
            resolved.path, batch_size=self.settings.knowledge.embed_batch, name=resolved.name
        )

    @cached_property
    def store(self) -> ChunkStore:
        """Open the vector store: embedded in <data_dir>/chroma, or in knowledge.chroma_url's
        server (the collection then records this data directory as its owner)."""
        from assistant.knowledge.chroma_client import connect, owner_id
        from assistant.knowledge.hnsw import HnswParams

        knowledge = self.settings.knowledge
        directory = self.data_dir / "chroma"
        connection = connect(knowledge, directory)
        self.__dict__["_chroma_connection"] = connection  # closed by close()
        return ChunkStore(
            directory,
            knowledge.collection,
            self.embedder.dimension,
            embedder=self.embedder.name,
            connection=connection,
            owner=owner_id(self.data_dir) if connection.remote else None,
            hnsw=HnswParams(
                knowledge.hnsw_m, knowledge.hnsw_construction_ef, knowledge.hnsw_search_ef
            ),
        )

    @cached_property
    def ingestor(self) -> Ingestor:
        """Return the ingestion service."""
        from connectors.documents import DocumentFiles

        return Ingestor(
            self.settings.knowledge,
            self.store,
            self.db,
            self.embedder,
            DocumentFiles(self.settings.knowledge),
        )

    @cached_property
    def retriever(self) -> Retriever:
        """Return the search service."""
        return Retriever(self.store, LexicalIndex(self.db), self.embedder, self.manifest)

    @cached_property
    def plant(self) -> PlantSpec | None:
        """Return the plant model (None when no plant file is configured)."""
        path = self.settings.plant.file
        return load_plant(path) if path is not None else None

    def require_plant(self) -> PlantSpec:
        """Return the plant model or raise ConfigError saying how to configure one."""
        if self.plant is None:
            raise ConfigError(
                "no plant file configured: set plant.file (or SHIFTMATE_PLANT__FILE) to a "
                "plant TOML file; 'shiftmate demo' uses the sample plant's"
            )
        return self.plant

    @cached_property
    def alarm_history(self) -> AlarmHistory:
        """Return the journal's alarm and anomaly history."""
        return AlarmHistory(self.db)

    @cached_property
    def alarm_acks(self) -> AlarmAcks:
        """Return the journal's alarm acknowledgements (shared by the TUI, CLI and API)."""
        return AlarmAcks(self.db, self.alarm_history)

    @cached_property
    def live(self) -> LiveTelemetry | None:
        """Return the telemetry pipeline (store, history, listeners), or None without a plant."""
        if self.plant is None:
            return None
        live: LiveTelemetry | None = None

        def on_event(event: TelemetryEvent) -> None:
            if live is not None:
                live.handle_event(event)

        store = TelemetryStore(self.plant, self.settings.telemetry, on_event=on_event)
        live = LiveTelemetry(store, self.alarm_history)
        return live

    def start_telemetry(self, client_id_suffix: str = "", transient: bool = False) -> LiveTelemetry:
        """Start receiving the plant's telemetry from the configured broker.

        A transient client (one-shot CLI commands) gets its own id and a clean session, so the
        broker keeps no queue for it after it leaves.
        """
        from connectors.codec import Decoder
        from connectors.mqtt.telemetry import MqttConnector

        plant = self.require_plant()
        live = self.live
        assert live is not None
        mqtt = self.settings.mqtt
        if mqtt.host is None:
            raise ConfigError("no MQTT broker configured: set mqtt.host (SHIFTMATE_MQTT__HOST)")
        if client_id_suffix or transient:
            mqtt = mqtt.model_copy(
                update={
                    "client_id": f"{mqtt.client_id}{client_id_suffix}"[:64],
                    "clean_start": mqtt.clean_start or transient,
                }
            )
        decoder = Decoder(
            plant,
            max_payload_bytes=mqtt.max_payload_bytes,
            max_future_s=mqtt.max_future_s,
            max_age_s=mqtt.max_age_s,
        )
        persistence = None
        if self.settings.telemetry.persist and not transient:
            telemetry = self.settings.telemetry
            persistence = TelemetryPersistence(
                state_folder(self.data_dir, mqtt.client_id),
                interval_s=telemetry.snapshot_interval_s,
                fsync=telemetry.fsync,
            )
        live.start(MqttConnector(mqtt, decoder, live.store.add_many), persistence)
        self.listening = True
        return live

    @cached_property
    def chat(self) -> ChatService:
        """Return the ask service (with live telemetry when a plant is configured)."""
        return ChatService(
            self.settings.chat,
            self.chat_model,
            self.llm_sha256,
            self.retriever,
            self.store,
            self.journal,
            UnitSource(UnitIndex(self.db), self.embedder, self.store),
            telemetry=self.live.store if self.live is not None else None,
            plant=self.plant,
        )

    @cached_property
    def workorders(self) -> WorkOrderStore:
        """Return the work-order store (the only place their status changes)."""
        return WorkOrderStore(
            self.db, allow_self_approval=self.settings.workorders.allow_self_approval
        )

    @cached_property
    def drafter(self) -> Drafter:
        """Return the work-order drafting service (needs a plant)."""
        return Drafter(
            self.settings.workorders,
            self.require_plant(),
            self.chat_model,
            self.retriever,
            self.alarm_history,
            self.workorders,
            self.store,
            self.manifest,
            telemetry=self.live.store if self.live is not None else None,
            journal=self.journal,
        )

    @cached_property
    def exporter(self) -> Exporter:
        """Return the exporter of approved work orders."""
        return Exporter(
            self.settings.workorders,
            self.settings.mqtt,
            self.workorders,
            self.data_dir / "exports",
            make_publisher,
        )

    @cached_property
    def outbox(self) -> Outbox:
        """Return the cloud-sync outbox (its own SQLite file; ``outbox.status()`` for a UI)."""
        sync = self.settings.sync
        linked = sync.mqtt.host if sync.transport == "mqtt" else sync.endpoint
        return Outbox(
            self.data_dir / "outbox.sqlite3",
            max_records=sync.max_records,
            max_bytes=sync.max_bytes,
            overflow=sync.overflow,
            offline=sync.offline or not linked,
        )

    @cached_property
    def sync(self) -> SyncService:
        """Return the cloud-sync service (summaries and feedback into the outbox, uplink)."""
        return SyncService(
            self.settings,
            self.outbox,
            self.db,
            self.journal,
            self.feedback,
            self.workorders,
            lambda: self.chat_model,
            lambda: make_transport(self.settings),
        )

    def close(self) -> None:
        """Stop background sync and telemetry, and release the journal (safe to call twice)."""
        if self._stop_sync is not None:
            stop, self._stop_sync = self._stop_sync, None
            stop()
        # cached_property keeps what was built in __dict__: close only what exists
        if self.__dict__.get("live") is not None:
            self.live.stop()  # type: ignore[union-attr]
        if "outbox" in self.__dict__:
            self.outbox.close()
        if "ingestor" in self.__dict__:
            self.ingestor.close()
        connection = self.__dict__.pop("_chroma_connection", None)
        if connection is not None:
            connection.close()
        embedder = self.__dict__.get("embedder")
        if isinstance(embedder, ServerEmbedder) and embedder is not self._given_embedder:
            embedder.close()  # its connection pool to the server
        if "db" in self.__dict__:
            self.db.close()


def make_publisher(mqtt: MqttSettings, client_id: str, timeout_s: float) -> MessagePublisher:
    """Return an MQTT publisher (not yet connected) for work-order exports and the tools."""
    from connectors.mqtt.publisher import MqttPublisher

    return MqttPublisher(mqtt, client_id=client_id, timeout_s=timeout_s)


def make_transport(settings: Settings) -> Transport:
    """Return the configured uplink; SyncError when offline or when none is configured."""
    sync = settings.sync
    if sync.offline:
        raise SyncError("offline mode (sync.offline = true): nothing is sent")
    if sync.transport == "mqtt":
        if sync.mqtt.host is None:
            raise SyncError("no cloud broker configured: set sync.mqtt.host (transport = mqtt)")
        from connectors.mqtt.uplink import MqttUplink

        return MqttUplink(
            sync.mqtt,
            topic_prefix=sync.mqtt_topic,
            site=sync.site_id,
            gzip=sync.gzip,
            timeout_s=sync.timeout_s,
            ack_timeout_s=sync.ack_timeout_s,
        )
    if not sync.endpoint:
        raise SyncError("no cloud endpoint configured: set sync.endpoint (and sync.token)")
    from connectors.uplink import HttpsUplink

    return HttpsUplink(sync)


def build_services(
    settings: Settings,
    *,
    chat_model: ChatBackend | None = None,
    embedder: TextEmbedder | None = None,
) -> Services:
    """Build the services for these settings (models load on first use).

    Already loaded models can be shared between Services built for different data directories
    (the test suite does this) by passing them in.
    """
    enforce_offline()
    prepare_data_dir(settings.data_dir)
    return Services(settings, chat_model=chat_model, embedder=embedder)
