"""What a site load reports: the site, whether it was made, counts, and what had to give way.

A restore job keeps it as its ``summary`` (``LoadSummaryDict``, JSON), ``flask site
import`` and the site page show it; ``app.sitedata.loader`` fills it in.
"""

from dataclasses import dataclass, field
from typing import TypedDict


class LoadSummaryDict(TypedDict):
    """A LoadSummary as JSON: a restore job's ``summary``, what ``flask site import`` reports."""

    site_id: int
    subdomain: str
    created: bool
    counts: dict[str, int]  # pages, blocks, menu_items, media, media_files
    remapped: dict[str, int]
    dropped_members: list[str]
    uploaders_cleared: int
    notes: list[str]
    duration: float  # seconds, to the millisecond


@dataclass
class LoadSummary:
    """What a load did: the site, whether it was created, counts and what had to give way."""

    site_id: int
    subdomain: str
    created: bool
    counts: dict[str, int] = field(default_factory=dict)
    remapped: dict[str, int] = field(default_factory=dict)  # table -> rows that got a new id
    dropped_members: list[str] = field(default_factory=list)  # emails of users that do not exist
    uploaders_cleared: int = 0  # media whose uploader does not exist any more
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0

    def to_dict(self) -> "LoadSummaryDict":
        """Return a JSON-ready dict."""
        return {
            "site_id": self.site_id,
            "subdomain": self.subdomain,
            "created": self.created,
            "counts": self.counts,
            "remapped": self.remapped,
            "dropped_members": self.dropped_members,
            "uploaders_cleared": self.uploaders_cleared,
            "notes": self.notes,
            "duration": round(self.duration, 3),
        }
