"""The app's version: the one place it is written (pyproject.toml, manifests and docs read it)."""

__version__ = "0.3.0"
