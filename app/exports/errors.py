"""The base error of site exports and imports, under the app's root error."""

from app.errors import StinkyKittyError


class ExportError(StinkyKittyError):
    """Base of every error of exporting, uploading, importing and restoring one site."""
