"""Helpers shared by test modules: log in, serve the app, drive a browser, wait.

Fixtures defined here are registered in ``tests/conftest.py`` (``pytest_plugins``),
so test modules name them as arguments and import nothing; plain helpers are
imported from these modules. No test module imports another test module.
"""
