"""Benchmarks of exports, backups and restores against GNU tar (run with ``python -m bench``).

Not part of the test run. Every figure is printed beside a reference measured
in the same run on the same bytes (GNU ``tar cf``, ``tar czf``, ``tar xzf``),
because absolute times on a shared machine drift.
"""
