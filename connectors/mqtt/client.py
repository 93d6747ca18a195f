"""The paho client set-up every MQTT role shares: connect options, TLS and auth, reconnect, errors.

:class:`MqttRole` builds one paho 2.x client from :class:`~assistant.settings.MqttSettings`
(protocol 3.1.1 or 5, credentials, TLS with client certificates, reconnect backoff), connects it
with the settings' keep alive and MQTT 5 session options, and reduces paho's callbacks to a few
short hooks the roles override (the telemetry connector, the publisher, the cloud subscriber).
"""

from __future__ import annotations

from typing import Any, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from assistant.errors import ConfigError
from assistant.settings import MqttSettings


def where(settings: MqttSettings) -> str:
    """Return the broker as ``host:port``, for messages."""
    return f"{settings.host}:{settings.port}"


def require_host(settings: MqttSettings) -> str:
    """Return the broker's host; raise ConfigError when none is configured."""
    if not settings.host:
        raise ConfigError("mqtt.host is not set: there is no MQTT broker to connect to")
    return settings.host


def error_text(rc: MQTTErrorCode) -> str:
    """Return paho's error code in words."""
    return paho.error_string(rc)


def tls_hint(settings: MqttSettings) -> str:
    """Return what to check when a TLS connection fails without an answer ("" without TLS)."""
    if not settings.tls:
        return ""
    return "; check mqtt.ca_file, cert_file and key_file against the broker's TLS setup"


def new_client(
    settings: MqttSettings, client_id: str, *, clean: bool, manual_ack: bool = False
) -> paho.Client:
    """Build a paho client with the protocol, credentials, TLS and backoff of the settings.

    With ``manual_ack`` paho does not acknowledge received QoS 1 and 2 messages itself: the
    role calls ``client.ack(mid, qos)`` once it has dealt with each one.
    """
    v5 = settings.protocol == "5"
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if v5 else clean,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        manual_ack=manual_ack,
    )
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        try:
            client.tls_set(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                certfile=str(settings.cert_file) if settings.cert_file else None,
                keyfile=str(settings.key_file) if settings.key_file else None,
            )
        except OSError as exc:  # ssl.SSLError is an OSError too
            raise ConfigError(
                f"mqtt TLS files (ca_file, cert_file, key_file) cannot be loaded: {exc}"
            ) from exc
    # paho annotates the delays as int but waits fractional seconds just as well.
    low = settings.reconnect_min_s
    client.reconnect_delay_set(cast(int, low), cast(int, max(low, settings.reconnect_max_s)))
    return client


def connect_kwargs(settings: MqttSettings, *, clean: bool, expiry_s: int) -> dict[str, Any]:
    """Return the MQTT 5 clean start flag and session expiry (nothing for 3.1.1)."""
    if settings.protocol != "5":
        return {}
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = expiry_s
    return {"clean_start": clean, "properties": properties}


class MqttRole:
    """One role on a broker: builds its paho client and turns paho's callbacks into hooks.

    Subclasses override the hooks they need; every hook runs on paho's network thread, so it
    must stay short and must not raise. Messages are not routed through a hook: a role that
    subscribes sets ``on_message`` itself, which saves a call per message.
    """

    manual_ack = False
    """True in roles that acknowledge received messages themselves (``client.ack``)."""

    def __init__(self, settings: MqttSettings) -> None:
        self._host = require_host(settings)
        self._settings = settings
        self._where = where(settings)
        self._client: paho.Client | None = None

    def _new_client(self, client_id: str, *, clean: bool) -> paho.Client:
        """Return a paho client for these settings with the hooks wired to its callbacks."""
        client = new_client(self._settings, client_id, clean=clean, manual_ack=self.manual_ack)
        client.on_connect = self._paho_connect
        client.on_connect_fail = self._paho_connect_fail
        client.on_disconnect = self._paho_disconnect
        client.on_subscribe = self._paho_subscribe
        return client

    def _connect(self, client: paho.Client, *, clean: bool, expiry_s: int, wait: bool) -> None:
        """Connect (blocking until the socket is open when ``wait``), then start paho's thread.

        Without ``wait`` paho connects in the background and keeps retrying with the backoff of
        the settings; with it, an unreachable broker raises OSError here.
        """
        settings = self._settings
        connect = client.connect if wait else client.connect_async
        connect(
            self._host,
            settings.port,
            settings.keepalive_s,
            **connect_kwargs(settings, clean=clean, expiry_s=expiry_s),
        )
        client.loop_start()

    def _disconnect(self) -> None:
        """Disconnect cleanly and stop paho's thread (nothing when not connected)."""
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    # -- hooks (network thread) --------------------------------------------------------------

    def _connected(self, client: paho.Client, session_present: bool) -> None:
        """The broker accepted the connection; ``session_present``: it kept our session."""

    def _refused(self, reason: str) -> None:
        """The broker answered the connection with a refusal."""

    def _unreachable(self) -> None:
        """A background connection attempt failed before the broker answered."""

    def _disconnected(self, reason: str, by_server: bool) -> None:
        """The connection ended; ``by_server``: the broker sent a DISCONNECT packet."""

    def _subscribe_answered(self, mid: int, refused: list[bool]) -> None:
        """The broker answered subscription ``mid``; ``refused`` per topic filter, in order."""

    # -- paho's callbacks, reduced to the hooks ----------------------------------------------

    def _paho_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._refused(str(reason))
        else:
            self._connected(client, flags.session_present)

    def _paho_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._unreachable()

    def _paho_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._disconnected(str(reason), flags.is_disconnect_packet_from_server)

    def _paho_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._subscribe_answered(mid, [reason.is_failure for reason in reasons])
