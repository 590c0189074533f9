"""A site export's static copy: the site itself as plain HTML under ``site/``.

``render.write_static_site`` writes it; ``urls`` builds every (relative) link
and media reference; ``blocks`` prepares each block for its partial in
``app/templates/public/blocks/``.
"""

from app.exports.staticsite.render import write_static_site

__all__ = ["write_static_site"]
