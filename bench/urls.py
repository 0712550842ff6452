"""The project's URLs plus ``bare/`` (a view that only redirects) and three "floor" views.

The floor views are not the product: they are what a click costs at the least with a
synchronous INSERT (``floor/insert/``), a Redis queue (``floor/redis/``) or an in-process
buffer written in batches (``floor/buffer/``), on the same server, so
``bench/redirect.py --floors`` can put numbers on the alternatives. None looks the link up.
"""

import atexit
import functools
import json
import logging
import threading
import time
import uuid

from django.db import connection, transaction
from django.http import HttpResponseRedirect
from django.urls import include, path
from django.utils import timezone

from bench import FLOOR_CODE, FLOOR_REDIS_KEY, FLOOR_REDIS_URL
from referrals.views import referral_redirect

BARE_TARGET = "https://shop.example.com/landing"
_CLICK_INSERT = (
    "INSERT INTO referrals_click (id, program_id, link_id, advocate_id, channel,"
    " user_agent, ip_hash, created_at) VALUES (%s, %s, %s, %s, '', %s, '', %s)"
)


def bare_redirect(request):
    """The floor: same server, same middleware, no database, a fixed 302."""
    return HttpResponseRedirect(BARE_TARGET)


@functools.cache
def _floor_link() -> tuple[int, int, int]:
    """(program_id, link_id, advocate_id) of the demo link, looked up once per worker."""
    from referrals.models import ReferralLink

    return ReferralLink.objects.values_list("program_id", "id", "advocate_id").get(code=FLOOR_CODE)


def floor_insert(request):
    """A fixed 302 plus one raw INSERT of a click row (autocommit, no ORM, no lookup)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CLICK_INSERT,
            [
                uuid.uuid4(),
                *_floor_link(),
                request.META.get("HTTP_USER_AGENT", "")[:300],
                timezone.now(),
            ],
        )
    return HttpResponseRedirect(BARE_TARGET)


@functools.cache
def _redis():
    import redis

    return redis.Redis.from_url(FLOOR_REDIS_URL)


def floor_redis(request):
    """A fixed 302 plus an RPUSH of the click to a Redis list (a writer would drain it)."""
    click = {
        "id": str(uuid.uuid4()),
        "code": FLOOR_CODE,
        "ua": request.META.get("HTTP_USER_AGENT", "")[:300],
        "at": timezone.now().isoformat(),
    }
    _redis().rpush(FLOOR_REDIS_KEY, json.dumps(click))
    return HttpResponseRedirect(BARE_TARGET)


_buffer: list[tuple] = []
_buffer_lock = threading.Lock()


def _flush_buffer() -> None:
    with _buffer_lock:
        rows = _buffer[:]
        del _buffer[:]
    if rows:
        # The flusher thread's own connection; one transaction (one commit) per batch.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(_CLICK_INSERT, rows)


def _flush_forever() -> None:
    while True:
        time.sleep(0.05)
        try:
            _flush_buffer()
        except Exception:  # the batch is lost; the click count will show it
            logging.getLogger(__name__).exception("click flush failed")


@functools.cache
def _start_flusher() -> None:
    """One flusher thread per worker, started after the fork; flushes on exit too."""
    threading.Thread(target=_flush_forever, name="click-flusher", daemon=True).start()
    atexit.register(_flush_buffer)


def floor_buffer(request):
    """A fixed 302; the click goes to a list a thread INSERTs every 50 ms (lost on a crash)."""
    _start_flusher()
    row = (uuid.uuid4(), *_floor_link(), request.META.get("HTTP_USER_AGENT", "")[:300])
    with _buffer_lock:
        _buffer.append((*row, timezone.now()))
    return HttpResponseRedirect(BARE_TARGET)


urlpatterns = [
    # The redirect at the top level, as in production (the first pattern of
    # config.urls): both endpoints are resolved at the same depth.
    path("r/<str:code>", referral_redirect),
    path("bare/", bare_redirect, name="bench-bare"),
    path("floor/insert/", floor_insert, name="bench-floor-insert"),
    path("floor/redis/", floor_redis, name="bench-floor-redis"),
    path("floor/buffer/", floor_buffer, name="bench-floor-buffer"),
    path("", include("config.urls")),
]
