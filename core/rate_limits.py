"""Rate limits shared by every web process: counters in the default cache.

One client-IP rule for the whole product (``TRUSTED_PROXY_COUNT`` proxies in front,
read from ``X-Forwarded-For``), used by the API limits, the admin's login lockout
(django-axes) and allauth's login limits alike.

Counters are fixed windows in Django's cache (``django_ratelimit``): atomic
``INCR`` on Redis in production; on the embedded default they live in a cache
folder every gunicorn worker shares, where a burst can slip a few requests past
the limit (increments there are not atomic), never block a client wrongly.
"""

import functools
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
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


@functools.lru_cache(maxsize=16)
def _parse_rate(rate: str) -> tuple[int, int]:
    """The rate "120/m" as (120, 60)."""
    count, _, unit = rate.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit.strip()[-1:].lower()]
    return int(count), seconds * int(unit.strip()[:-1] or 1)


def over_rate_limit(*, group: str, key: str, rate: str | None) -> bool:
    """Count one hit of ``key``; True when it is past ``rate`` in the current fixed window.

    The hot-path variant of ``rate_limit_hit``: one counter increment (one round
    trip on Redis; see ``ResilientRedisCache.count``), no usage details. Fails
    open: a cache that cannot count limits nobody.
    """
    if not rate or not getattr(settings, "RATELIMIT_ENABLE", True):
        return False
    limit, period = _parse_rate(rate)
    window = int(time.time()) // period
    cache_key = f"rl:{group}:{key}:{window}"
    timeout = period + 1
    counter = getattr(cache, "count", None)
    if counter is not None:
        return counter(cache_key, timeout) > limit
    try:
        count = cache.incr(cache_key)
    except ValueError:  # the window's first hit (or the key expired meanwhile)
        count = 1 if cache.add(cache_key, 1, timeout) else cache.incr(cache_key)
    return count > limit


def redirect_rate_limited(request) -> bool:
    """One more click from this client address; True past ``REDIRECT_RATE_PER_IP``."""
    return over_rate_limit(
        group="redirect", key=client_ip(request), rate=settings.REDIRECT_RATE_PER_IP
    )


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
