"""Domain names in one normal form, wherever one is stored, compared or imported.

A site's custom domain is kept as IDNA 2008 (UTS #46 mapping) ASCII: lower
case, internationalised labels as ``xn--`` A-labels, no trailing dot. Two
spellings of one name (``Camp.Example.``, ``camp.example``, full-width
letters, ``bücher.example`` and ``xn--bcher-kva.example``) have one normal
form, so the unique column and an equality test tell them apart no more.
"""

import idna

from app.errors import REFUSED, StinkyKittyError

MAX_LENGTH = 253  # the longest name DNS carries, without the trailing dot


class InvalidDomain(StinkyKittyError, ValueError):
    """The text is not a domain name (the message says why)."""

    exit_code = REFUSED


def normal_domain(value):
    """Return ``value`` as a domain in normal form; None for None or blank text.

    Raises InvalidDomain for anything that is not a valid (IDNA) domain name.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidDomain(f"a domain name must be text, not {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    shown = text if len(text) <= 80 else text[:77] + "..."
    try:
        encoded = idna.encode(text, uts46=True).decode("ascii")
    except (UnicodeError, ValueError) as exc:  # idna.IDNAError is a UnicodeError
        raise InvalidDomain(f"{shown!r} is not a valid domain name ({exc})") from None
    if encoded.endswith("."):  # the root, written out: the same name
        encoded = encoded[:-1]
    if not encoded or len(encoded) > MAX_LENGTH:
        raise InvalidDomain(f"{shown!r} is not a valid domain name (empty or too long)")
    return encoded
