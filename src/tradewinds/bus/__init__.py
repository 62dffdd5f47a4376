"""The message bus: NATS subjects, msgpack encoding of the domain messages, and the connection
(to `TRADEWINDS_NATS_URL`, or to a nats-server Tradewinds starts itself)."""
