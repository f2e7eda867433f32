"""The reference platform: a real WebSocket server implementing PROTOCOL.md."""
