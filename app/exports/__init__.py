"""Site exports: one site's data as an archive an owner can take away.

``archive`` writes an export (``data`` holds the JSON files and the README it
carries), ``jobs`` runs the "Download my site" job a Celery task drives, and
``links`` signs and checks the expiring download links. Depends on the archive
format (``app.archive``), the models and the config; the views live in
``app.blueprints.exports``.
"""
