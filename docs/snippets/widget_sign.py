"""Open the advocate widget for the logged-in customer (your server, Python).

Sign who the customer is with your program's widget secret (admin: Programs →
your program → Widget secret) and put the URL in an <iframe>.
"""

import hashlib
import hmac
import time
from urllib.parse import urlencode


def widget_signature(widget_secret, program, email, external_id, expires, name=""):
    message = f"{program}|{email}|{external_id or ''}|{expires}|{name or ''}"
    return hmac.new(widget_secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def widget_url(platform, program, widget_secret, email, external_id="", name="", ttl=3600):
    """The iframe's src; valid for ``ttl`` seconds (render it with each page view)."""
    expires = int(time.time()) + ttl
    query = urlencode(
        {
            "email": email,
            "external_id": external_id or "",
            "name": name,
            "expires": expires,
            "sig": widget_signature(widget_secret, program, email, external_id, expires, name),
        }
    )
    return f"{platform}/widget/{program}/?{query}"
