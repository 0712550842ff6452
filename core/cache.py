"""The shared cache on Redis, failing open while Redis is down.

The default cache holds rate-limit counters and allauth's limits and locks, nothing
that must survive. With Redis down a request should be served without its limit,
not answered 500 (the broker's outage already makes the API "degraded", see
``/healthz``): reads miss, writes are dropped, ``add`` reports success so a lock
or a first count goes ahead, and ``incr`` reports a missing key. After a failure a
process leaves Redis alone for ``RETRY_AFTER_SECONDS`` rather than wait on it in
every request, and logs a warning at most once a minute.
"""

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

logger = logging.getLogger(__name__)

DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
RETRY_AFTER_SECONDS = 5.0
_MISSING = object()


class ResilientRedisCache(RedisCache):
    _down_until = 0.0
    _last_warning = 0.0

    def __init__(self, server, params):
        options = params.setdefault("OPTIONS", {})
        # A Redis that hangs or refuses must not hold requests: one quick try.
        options.setdefault("socket_connect_timeout", 0.5)
        options.setdefault("socket_timeout", 0.5)
        options.setdefault("retry", Retry(NoBackoff(), 0))
        super().__init__(server, params)

    def _call(self, fallback, method, *args, **kwargs):
        now = time.monotonic()
        if now < ResilientRedisCache._down_until:
            return fallback()
        try:
            return method(*args, **kwargs)
        except DOWN as error:
            ResilientRedisCache._down_until = now + RETRY_AFTER_SECONDS
            if now - ResilientRedisCache._last_warning > 60:
                ResilientRedisCache._last_warning = now
                logger.warning("Cache unavailable, serving without rate limits: %s", error)
            return fallback()

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(lambda: True, super().add, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._call(lambda: default, super().get, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(lambda: None, super().set, key, value, timeout, version)

    def delete(self, key, version=None):
        return self._call(lambda: False, super().delete, key, version)

    def incr(self, key, delta=1, version=None):
        def missing():
            raise ValueError(f"Key {key!r} not found (cache unavailable).")

        return self._call(missing, super().incr, key, delta, version)

    def count(self, key, timeout: int, version=None) -> int:
        """Increment a counter, creating it with ``timeout``: one round trip (0 when down).

        Django's ``incr`` asks whether the key exists first (two round trips) and
        cannot create it; a rate-limit counter on the redirect wants neither.
        """
        return self.count_many({key: (1, timeout)}, version=version).get(key, 0)

    def count_many(self, hits: dict, version=None) -> dict:
        """Add ``{key: (delta, timeout)}`` to their counters in one round trip; the new
        totals by key ({} when Redis is down)."""
        keys = {key: self.make_and_validate_key(key, version=version) for key in hits}
        if not keys:
            return {}

        def add():
            # INCRBY and EXPIRE of every key in one round trip. The expiry is renewed each
            # time (the key names its window, so it lives at most a window past its last
            # hit) rather than set on the first hit only, which a crash between the two
            # would leave without one.
            client = self._cache.get_client(next(iter(keys.values())), write=True)
            pipeline = client.pipeline(transaction=False)
            for key, made in keys.items():
                delta, timeout = hits[key]
                pipeline.incrby(made, delta)
                pipeline.expire(made, timeout)
            results = pipeline.execute()
            return {key: results[2 * i] for i, key in enumerate(keys)}

        return self._call(dict, add)
