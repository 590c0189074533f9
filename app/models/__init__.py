"""The CMS data model."""

from app.models.domains import InvalidDomain, normal_domain
from app.models.export import ExportJob
from app.models.media import MediaItem, MediaTag
from app.models.site import BLOCK_TYPES, Block, MenuItem, Page, Site
from app.models.types import utcnow
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
    "normal_domain",
    "utcnow",
]
