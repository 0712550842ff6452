"""Rate limits shared by every web process: counters in the default cache.

One client-IP rule for the whole product (``TRUSTED_PROXY_COUNT`` proxies in front,
read from ``X-Forwarded-For``), used by the API limits, the admin's login lockout
(django-axes) and allauth's login limits alike.

Counters are fixed windows in Django's cache (``django_ratelimit``): atomic
``INCR`` on Redis in production; on the embedded default they live in a cache
folder every gunicorn worker shares, where a burst can slip a few requests past
the limit (increments there are not atomic), never block a client wrongly.
"""

from dataclasses import dataclass

from django.conf import settings
from django.shortcuts import render
from django_ratelimit.core import get_usage


@dataclass(frozen=True)
class Usage:
    limited: bool
    retry_after: int  # seconds to the end of the window


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or the one the trusted proxies saw."""
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count and forwarded:
        # Each trusted proxy appends the address it was called from, so the client
        # is the count-th entry from the right; what lies left of it is whatever
        # the client chose to send.
        hops = [hop.strip() for hop in forwarded.split(",")]
        if len(hops) >= count and hops[-count]:
            return hops[-count]
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 (a key, not a bind)


def rate_limit_hit(request, *, group: str, key: str, rate: str | None) -> Usage:
    """Count one request of ``key`` in ``group`` against ``rate`` ("100/m"); None: no limit."""
    if not rate:
        return Usage(limited=False, retry_after=0)
    usage = get_usage(
        request, group=group, key=lambda _group, _request: key, rate=rate, increment=True
    )
    if usage is None:  # RATELIMIT_ENABLE off
        return Usage(limited=False, retry_after=0)
    return Usage(limited=usage["should_limit"], retry_after=max(1, int(usage["time_left"])))


def login_username(request, credentials) -> str:
    """What django-axes counts failed logins under: the admin's username or allauth's email."""
    login = credentials.get("username") or credentials.get("email") or ""
    return str(login).strip().lower()


def login_locked_out(request, original_response, credentials):
    """django-axes' answer to a locked-out sign-in: a 429 page saying when to retry."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    response = render(request, "account/locked_out.html", {"lockout_minutes": minutes}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
