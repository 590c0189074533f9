"""System backups: the whole database plus every uploaded file, as one archive.

``dbdump`` dumps and loads the database, ``mediasnap`` walks the uploads,
``system`` creates and verifies backups, ``catalog`` lists them, ``retention``
deletes old ones, ``restore`` puts one back, ``lock`` and ``maintenance`` keep a
backup and a restore from interleaving with each other and with the site,
``runs`` makes a recorded run, ``runlog`` records every run, ``schedule`` says
when the next one is, ``status`` answers "how are the backups?".

Depends on the archive format (``app.archive``), the models, the config and
Flask-SQLAlchemy's ``db``; of Celery only its crontab type (``schedule``). No
Flask request objects and no Celery app in here: the CLI, the tasks and the
views all call these functions.
"""
