"""Site exports: one site's data as an archive an owner can take away, and back again.

``archive`` writes an export (``data`` holds the JSON files and the README it
carries), ``jobs`` runs the "Download my site" job a Celery task drives, and
``links`` signs and checks the expiring download links. The way back:
``siterows`` is the shape of one site's data and its checks, ``loader`` writes
it into the database (the one site loader, for imports and for restores of one
site from a system backup), ``exportformat`` reads an export's files back,
``siteimport`` imports an export archive, and ``restorejobs`` runs the site
page's "Restore from an export file". Depends on the archive format
(``app.archive``), the models and the config; the views live in
``app.blueprints.exports`` and ``app.blueprints.siteimport``.
"""
