"""One site's data: its rows, read and checked, and the site loader that writes them.

Below both system backups and site exports, which bring a site back from
their own sources and hand the same rows to the same loader:

- ``rows``: the shape of one site's data (plain dicts) and every check on it;
- ``fromdump``: one site's rows out of a system backup's dump;
- ``loader``: the site loader, writing one site's rows in one transaction
  (``ids``: keeping a restored site's ids where free; ``files``: its media
  files, removed only when they are its own; ``summary``: what a load reports).

Imports the database layer (``app.dumps``) for the dump's column codecs and
nothing of ``app.backup`` or ``app.exports``.
"""

from app.sitedata.fromdump import SiteNotInBackup, dump_member, find_site_row, read_site_rows
from app.sitedata.loader import SiteLoad, SiteLoadRefused, load_site, site_loader
from app.sitedata.rows import InvalidSiteData
from app.sitedata.summary import LoadSummary, LoadSummaryDict

__all__ = [
    "InvalidSiteData",
    "LoadSummary",
    "LoadSummaryDict",
    "SiteLoad",
    "SiteLoadRefused",
    "SiteNotInBackup",
    "dump_member",
    "find_site_row",
    "load_site",
    "read_site_rows",
    "site_loader",
]
