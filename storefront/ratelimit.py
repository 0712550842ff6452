"""A fixed-window rate limit in Django's cache, for the browser-callable endpoints."""

import time

from django.core.cache import cache

from core.api_errors import error_response
from core.errors import ServiceError


class RateLimited(ServiceError):
    def __init__(self, retry_after: int):
        super().__init__("rate_limited", "Too many requests: try again in a moment.", status=429)
        self.retry_after = retry_after


def rate_limit_hit(*, scope: str, key: str, limit: int, window_seconds: int) -> None:
    """Count one request for ``key``; raise ``RateLimited`` past ``limit`` in the window."""
    now = int(time.time())
    window = now // window_seconds
    cache_key = f"rl:{scope}:{key}:{window}"
    # add() is atomic where the cache supports it (Redis, locmem): first request sets 1.
    if cache.add(cache_key, 1, timeout=window_seconds + 1):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add() and incr()
            cache.set(cache_key, 1, timeout=window_seconds + 1)
            count = 1
    if count > limit:
        raise RateLimited(retry_after=(window + 1) * window_seconds - now or 1)


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def rate_limited_response(exc: RateLimited):
    """The API's error shape with status 429 and ``Retry-After`` (seconds)."""
    response = error_response(exc.code, exc.message, 429)
    response["Retry-After"] = str(exc.retry_after)
    return response
