"""The base error of site exports and imports (``ExportError``, defined with the root in
``app.errors`` so the site data below exports can raise it too)."""

from app.errors import ExportError

__all__ = ["ExportError"]
