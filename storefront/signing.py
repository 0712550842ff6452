"""Signed customer identities for the advocate widget.

The merchant's server signs who the logged-in customer is with the program's
``widget_secret``; the widget trusts an identity only with a valid, unexpired
signature. The message is ``"{program_slug}|{email}|{external_id}|{expires}"``
(``external_id`` empty when absent, ``expires`` a Unix timestamp in seconds).
"""

import hashlib
import hmac
import time

from advocacy.models import Program


class WidgetSignatureError(Exception):
    """The widget's identity cannot be trusted; the message says why, for the merchant."""


def widget_message(*, program_slug: str, email: str, external_id: str | None, expires: int) -> str:
    return f"{program_slug}|{email}|{external_id or ''}|{expires}"


def widget_signature(
    *, secret: str, program_slug: str, email: str, external_id: str | None, expires: int
) -> str:
    """Hex HMAC-SHA256 of the identity, as the merchant's server computes it."""
    message = widget_message(
        program_slug=program_slug, email=email, external_id=external_id, expires=expires
    )
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def widget_params(
    *,
    program: Program,
    email: str,
    external_id: str | None = None,
    name: str = "",
    ttl_seconds: int = 3600,
    now: float | None = None,
) -> dict[str, str]:
    """The widget URL's query for a customer (what a merchant's server sends)."""
    expires = int(now if now is not None else time.time()) + ttl_seconds
    sig = widget_signature(
        secret=program.widget_secret,
        program_slug=program.slug,
        email=email,
        external_id=external_id,
        expires=expires,
    )
    return {
        "email": email,
        "external_id": external_id or "",
        "name": name,
        "expires": str(expires),
        "sig": sig,
    }


def widget_verify(
    *,
    program: Program,
    email: str,
    external_id: str | None,
    expires: str,
    sig: str,
    now: float | None = None,
) -> None:
    """Raise ``WidgetSignatureError`` unless ``sig`` signs this identity and has not expired."""
    if not email or not sig or not expires:
        raise WidgetSignatureError("The widget URL needs email, expires and sig parameters.")
    try:
        expires_at = int(expires)
    except ValueError:
        raise WidgetSignatureError("expires must be a Unix timestamp in seconds.") from None
    expected = widget_signature(
        secret=program.widget_secret,
        program_slug=program.slug,
        email=email,
        external_id=external_id,
        expires=expires_at,
    )
    # Constant-time: the comparison must not tell an attacker how much of a guess was right.
    if not hmac.compare_digest(expected.encode(), sig.strip().lower().encode()):
        raise WidgetSignatureError(
            "The signature does not match: sign "
            '"<program>|<email>|<external_id>|<expires>" with this program\'s widget secret.'
        )
    if expires_at < (now if now is not None else time.time()):
        raise WidgetSignatureError("This widget link has expired: the page must sign a new one.")
