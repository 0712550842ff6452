"""Placements: where on the merchant's site or in which message a referral started.

Every impression, share, click and referral carries one. The known ones are
below; a merchant may pass its own (lower-case letters, digits, ``_`` and ``-``,
at most 40 characters), e.g. ``account_page``. Anything else is dropped (``""``).
"""

import re

POST_PURCHASE = "post_purchase"
PORTAL = "portal"
WIDGET = "widget"
EMAIL_INVITATION = "email_invitation"
EMAIL_REMINDER = "email_reminder"
EMAIL_NEWSLETTER = "email_newsletter"
QR = "qr"
NAME_LOOKUP = "name_lookup"

KNOWN = (
    POST_PURCHASE,
    PORTAL,
    WIDGET,
    EMAIL_INVITATION,
    EMAIL_REMINDER,
    EMAIL_NEWSLETTER,
    QR,
    NAME_LOOKUP,
)

MAX_LENGTH = 40
_VALID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def placement_clean(value: str | None) -> str:
    """The placement as stored: a known or custom name, lower-cased; ``""`` when unusable."""
    if not value:
        return ""
    value = value.strip().lower()
    return value if _VALID.fullmatch(value) else ""
