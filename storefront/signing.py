"""Signed customer identities for the advocate widget.

The merchant's server signs who the logged-in customer is with the program's
``widget_secret``; the widget trusts an identity only with a valid, unexpired
signature. The message is ``"{program_slug}|{email}|{external_id}|{expires}|{name}"``
(``external_id`` and ``name`` empty when absent, ``expires`` a Unix timestamp in
seconds), so the name shown and enrolled cannot be altered in the URL.

A signature over the older message without the name,
``"{program_slug}|{email}|{external_id}|{expires}"``, still opens the widget, but
then the URL's ``name`` is ignored: nothing unsigned is trusted.
"""

import hashlib
import hmac
import time

from django.core import signing

from advocacy.models import Program
from core.normalize import normalize_email


class WidgetSignatureError(Exception):
    """The widget's identity cannot be trusted; the message says why, for the merchant."""


def widget_message(
    *,
    program_slug: str,
    email: str,
    external_id: str | None,
    expires: int,
    name: str | None = None,
) -> str:
    """The signed text; ``name=None`` gives the older message without the name."""
    message = f"{program_slug}|{email}|{external_id or ''}|{expires}"
    return message if name is None else f"{message}|{name}"


def widget_signature(
    *,
    secret: str,
    program_slug: str,
    email: str,
    external_id: str | None,
    expires: int,
    name: str | None = "",
) -> str:
    """Hex HMAC-SHA256 of the identity, as the merchant's server computes it."""
    message = widget_message(
        program_slug=program_slug, email=email, external_id=external_id, expires=expires, name=name
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
        name=name,
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
    name: str = "",
    now: float | None = None,
) -> str:
    """Raise ``WidgetSignatureError`` unless ``sig`` signs this identity and has not expired.

    Returns the name to trust: ``name`` when the signature covers it, "" when it is
    an older signature without the name.
    """
    if not email or not sig or not expires:
        raise WidgetSignatureError("The widget URL needs email, expires and sig parameters.")
    try:
        expires_at = int(expires)
    except ValueError:
        raise WidgetSignatureError("expires must be a Unix timestamp in seconds.") from None
    given = sig.strip().lower().encode()
    trusted = None
    for signed_name in (name, None):  # the name signed; else the older message without it
        expected = widget_signature(
            secret=program.widget_secret,
            program_slug=program.slug,
            email=email,
            external_id=external_id,
            expires=expires_at,
            name=signed_name,
        )
        # Constant-time: the comparison must not tell an attacker how much of a guess was right.
        if hmac.compare_digest(expected.encode(), given):
            trusted = signed_name or ""
            break
    if trusted is None:
        raise WidgetSignatureError(
            "The signature does not match: sign "
            '"<program>|<email>|<external_id>|<expires>|<name>" with this program\'s widget '
            "secret."
        )
    if expires_at < (now if now is not None else time.time()):
        raise WidgetSignatureError("This widget link has expired: the page must sign a new one.")
    return trusted


# ---------------------------------------------------------------- event tokens

EVENT_TOKEN_SALT = "storefront.placement-event"  # noqa: S105 - a salt, not a secret
EVENT_TOKEN_MAX_AGE = 7 * 86400


def viewer_for_email(*, program: Program, email: str) -> str:
    """Who saw a placement, as counted for unique impressions: never the email itself."""
    message = f"{program.pk}:{normalize_email(email)}".encode()
    return "e" + hmac.new(program.widget_secret.encode(), message, hashlib.sha256).hexdigest()[:40]


def viewer_for_visitor(*, program: Program, visitor: str) -> str:
    """An anonymous browser's own id (embed.js keeps one), hashed per program."""
    message = f"{program.pk}:{visitor}".encode()
    return "v" + hmac.new(program.widget_secret.encode(), message, hashlib.sha256).hexdigest()[:40]


def event_token(*, program: Program, placement: str, viewer: str, advocate_id: int | None) -> str:
    """What a page we rendered (widget, prompt) sends back with its impressions and shares."""
    payload = {"p": program.pk, "pl": placement, "v": viewer, "a": advocate_id}
    return signing.dumps(payload, salt=EVENT_TOKEN_SALT, compress=True)


def event_token_read(token: str) -> dict | None:
    """The token's payload, or None when it is forged or older than a week."""
    try:
        return signing.loads(token, salt=EVENT_TOKEN_SALT, max_age=EVENT_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
