"""The fast path of each engine for a dump's load: ``sqlite``, ``mysql``, ``postgresql`` (COPY).

``setaside``: PostgreSQL's secondary indexes and foreign keys, dropped while a
load fills their tables and recreated as they were after the rows.
"""
