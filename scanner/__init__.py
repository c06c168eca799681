"""porscan's pipeline: ingest -> verify -> fetch -> aggregate -> compare -> store/report."""

__version__ = "0.1.0"
