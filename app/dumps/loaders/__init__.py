"""The fast path of each engine for a dump's load: ``sqlite``, ``mysql``, ``postgresql`` (COPY)."""
