"""The CMS data model."""

from app.models.counts import site_counts
from app.models.domains import InvalidDomain, normal_domain
from app.models.export import ExportJob
from app.models.media import MediaItem, MediaTag
from app.models.site import BLOCK_TYPES, Block, MenuItem, Page, Site
from app.models.storable import (
    integer_range,
    json_problem,
    read_int,
    text_byte_limit,
    text_problem,
    texts_problem,
    utc_naive,
)
from app.models.types import format_utc, parse_utc, utcnow
from app.models.user import ROLES, SiteUser, User

__all__ = [
    "BLOCK_TYPES",
    "ROLES",
    "Block",
    "ExportJob",
    "InvalidDomain",
    "MediaItem",
    "MediaTag",
    "MenuItem",
    "Page",
    "Site",
    "SiteUser",
    "User",
    "format_utc",
    "integer_range",
    "json_problem",
    "normal_domain",
    "parse_utc",
    "read_int",
    "site_counts",
    "text_byte_limit",
    "text_problem",
    "texts_problem",
    "utc_naive",
    "utcnow",
]
