"""Verify an Advocacy webhook request (Python 3, standard library only).

The Advocacy-Signature header looks like ``t=1767225600,v1=5257a869...``:
``v1`` is the hex HMAC-SHA256 of ``"<t>.<raw request body>"`` keyed with the
endpoint's signing secret (``whsec_...``, shown in the admin). Pass the body
exactly as received -- not parsed and re-serialized JSON.

Django example::

    import json

    from django.http import HttpResponse, HttpResponseBadRequest
    from django.views.decorators.csrf import csrf_exempt

    @csrf_exempt
    def advocacy_webhook(request):
        header = request.headers.get("Advocacy-Signature", "")
        if not verify_webhook(WEBHOOK_SECRET, header, request.body):
            return HttpResponseBadRequest("bad signature")
        event = json.loads(request.body)  # {"id", "type", "created", "data"}
        ...  # process once per event["id"]: deliveries can repeat
        return HttpResponse(status=204)
"""

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300  # refuse replays of requests signed longer ago than this


def verify_webhook(
    secret: str, signature_header: str, body: bytes, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """True when the header signs exactly this body with this secret, and recently."""
    timestamp, signatures = "", []
    for item in signature_header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if not (timestamp.isascii() and timestamp.isdigit()) or not signatures:
        return False
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)
