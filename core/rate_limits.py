"""Rate limits shared by every web process: counters in the default cache.

One client-IP rule for the whole product (``TRUSTED_PROXY_COUNT`` proxies in front,
read from ``X-Forwarded-For``), used by the API limits, the admin's login lockout
(django-axes) and allauth's login limits alike.

Counters are fixed windows in Django's cache (``django_ratelimit``): atomic
``INCR`` on Redis in production; on the embedded default they live in a cache
folder every gunicorn worker shares, where a burst can slip a few requests past
the limit (increments there are not atomic), never block a client wrongly. The
redirect's per-address limit counts in each process and adds its counts to the
shared counters in the background (``over_rate_limit``), so a click costs no
round trip for it.
"""

import functools
import logging
import os
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render
from django_ratelimit.core import get_usage

logger = logging.getLogger(__name__)


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

    The hot-path variant of ``rate_limit_hit`` (the redirect), with no usage details.
    Hits are counted in this process and added to the shared counters every
    ``RATE_LIMIT_FLUSH_MS`` by a background thread (``_Batched``), so a request does no
    I/O for its limit; with ``RATE_LIMIT_FLUSH_MS = 0`` each hit is one increment of the
    shared counter (one round trip on Redis). Fails open: a cache that cannot count
    limits nobody.
    """
    if not rate or not getattr(settings, "RATELIMIT_ENABLE", True):
        return False
    limit, period = _parse_rate(rate)
    window = int(time.time()) // period
    cache_key = f"rl:{group}:{key}:{window}"
    timeout = period + 1
    if settings.RATE_LIMIT_FLUSH_MS > 0:
        return _batched.hit(cache_key, timeout) > limit
    return _count_shared({cache_key: (1, timeout)}).get(cache_key, 0) > limit


def _count_shared(hits: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Add ``{key: (delta, timeout)}`` to the shared counters; their new totals."""
    many = getattr(cache, "count_many", None)
    if many is not None:  # Redis: one round trip for all
        return many(hits)
    totals = {}
    for key, (delta, timeout) in hits.items():
        try:
            totals[key] = cache.incr(key, delta)
        except ValueError:  # the window's first hit (or the key expired meanwhile)
            totals[key] = delta if cache.add(key, delta, timeout) else cache.incr(key, delta)
    return totals


class _Batched:
    """Hits counted in this process, added to the shared counters in the background.

    A hit is judged by the shared total as of the last flush plus this process's hits
    since, so the request path touches no cache. What another process counted since the
    last flush is seen at the next one: a client can get up to ``RATE_LIMIT_FLUSH_MS`` of
    its requests per process past the limit, once per window, never more, and nobody is
    limited wrongly. The thread starts with the first hit in each process (after a fork
    too); hits not yet flushed when a process dies are simply not counted.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.pending: dict[str, list[int]] = {}  # key -> [hits, timeout], not yet added
        self.adding: dict[str, int] = {}  # key -> hits being added right now
        self.shared: dict[str, tuple[int, float]] = {}  # key -> (total, forget at)
        self.pid = 0

    def hit(self, cache_key: str, timeout: int) -> int:
        """Count one hit; the total it makes as far as this process knows."""
        if self.pid != os.getpid():
            self._start()
        with self.lock:
            entry = self.pending.get(cache_key)
            if entry is None:
                entry = self.pending[cache_key] = [0, timeout]
            entry[0] += 1
            shared = self.shared.get(cache_key, (0, 0.0))[0]
            return shared + self.adding.get(cache_key, 0) + entry[0]

    def _start(self) -> None:
        with self.lock:
            if self.pid == os.getpid():
                return
            # A forked child forgets its parent's counts: they are the parent's to add.
            self.pending, self.adding, self.shared = {}, {}, {}
            self.pid = os.getpid()
        threading.Thread(target=self._run, name="rate-limit-flush", daemon=True).start()

    def _run(self) -> None:
        while _batched is self:  # a replaced counter's thread ends
            time.sleep(max(settings.RATE_LIMIT_FLUSH_MS, 10) / 1000)
            try:
                self.flush()
            except Exception:
                logger.exception("rate-limit counters not added")

    def flush(self) -> None:
        """Add the pending hits to the shared counters and learn their totals."""
        with self.lock:
            pending, self.pending = self.pending, {}
            self.adding = {key: hits for key, (hits, _) in pending.items()}
        totals = {}
        try:
            if pending:
                totals = _count_shared(
                    {k: (hits, timeout) for k, (hits, timeout) in pending.items()}
                )
        finally:
            now = time.monotonic()
            with self.lock:
                self.adding = {}
                for key, total in totals.items():
                    self.shared[key] = (total, now + pending[key][1])
                for key in [k for k, (_, forget) in self.shared.items() if forget < now]:
                    del self.shared[key]


_batched = _Batched()


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
