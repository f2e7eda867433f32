"""Load and latency harness for the MIPTech chat platform's WebSocket API."""

__version__ = "0.1.0"
