"""MQTT over paho-mqtt 2.x: the only package of Shiftmate that imports paho.

``client`` builds and connects the paho client every role shares (protocol, credentials, TLS,
reconnect backoff, MQTT 5 session options) and turns paho's callbacks into hooks;
``telemetry`` is the plant's connector (:class:`~connectors.mqtt.telemetry.MqttConnector`,
messages in, reading batches out to the core); ``publisher`` publishes with the broker's
acknowledgement (simulator, replay, work-order export); ``uplink`` sends sync batches to a
cloud broker and ``cloud`` is the cloud-side subscriber that takes them.
"""
