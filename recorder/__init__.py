"""Self-hosted audio stream recorder: an event log, views projected from it, and the adapters around it."""

__version__ = "0.1.0"
