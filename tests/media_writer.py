"""A site that uploads and deletes media as fast as it can: run as ``python -m tests.media_writer``.

Reads its settings from the environment like the app; keeps about ``KEEP``
media items in the first site, adding one and deleting the oldest per round
(sometimes both in one transaction), sweeping the media trash with no grace
period every few rounds, until SIGTERM. Prints "ready" once it has started.
"""

import io
import os
import signal
import sys

import sqlalchemy as sa

from app import create_app
from app.coordination.trash import sweep_trash
from app.extensions import db
from app.media import add_media, delete_media
from app.models import MediaItem, Site

KEEP = 15


def main():
    """Write and delete media until told to stop."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    app = create_app()
    with app.app_context():
        site = db.session.scalar(sa.select(Site).order_by(Site.id))
        print("ready", flush=True)
        rounds = 0
        while not stopping:
            rounds += 1
            add_media(site, io.BytesIO(os.urandom(512 + rounds % 1500)), f"f{rounds}.bin")
            if rounds % 3:
                db.session.commit()
            oldest = db.session.scalars(
                sa.select(MediaItem).where(MediaItem.site_id == site.id).order_by(MediaItem.id)
            ).all()
            for item in oldest[: max(0, len(oldest) - KEEP)]:
                delete_media(item)
            db.session.commit()
            if rounds % 5 == 0:
                sweep_trash(app.config, grace=0)
        print(f"rounds {rounds}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
