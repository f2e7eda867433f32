"""The platform's WebSocket protocol, sans-I/O: messages, the client session, the platform rules."""
