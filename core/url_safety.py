"""URLs read the same way by every parser, browsers included (WHATWG), or refused.

Browsers read a backslash as a slash and drop tabs and newlines inside URLs, and
``user@host`` hides the real host: a URL with any of these may not mean to a
browser or an HTTP client what it means to ``urlsplit``.
"""

import re
from urllib.parse import urlsplit

_AMBIGUOUS = re.compile(r"[\\\x00-\x20\x7f]")


def url_ambiguity(url: str) -> str:
    """Why ``url`` could be read two ways ("" when it cannot)."""
    if _AMBIGUOUS.search(url):
        return "The URL has a backslash, a space or a control character."
    if "@" in urlsplit(url).netloc:
        return "The URL has a user name or password (user@host)."
    return ""
