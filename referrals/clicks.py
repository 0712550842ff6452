"""The click path of ``GET /r/<code>``, kept close to the cost of a bare redirect.

* **Click ids are made here**, not by the database: 128 bits holding the link id
  (32), the Unix second (32), randomness (32) and an HMAC of those (32). A
  conversion can be attributed from the id alone — the link and the time are in
  it, vouched for by the MAC — so attribution never depends on the click's row.
* **Rows are written in batches**: the redirect appends the click to an
  in-process buffer that a background thread writes every ``CLICK_FLUSH_MS``
  with one multi-row INSERT, and once more when the process exits. A worker
  killed outright loses at most that interval's rows, which are analytics only
  (a later conversion recreates the row from its id). ``CLICK_FLUSH_MS=0``
  writes each click at once.
* **The link is cached** in process for ``LINK_CACHE_SECONDS``: pausing a
  program or banning an advocate stops new clicks within that time.
"""

import atexit
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.db import close_old_connections, connection

from .models import Click, ReferralLink

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- click ids


def _mac(payload: bytes) -> bytes:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"click:" + payload, hashlib.sha256).digest()[:4]


def new_click_id(link_id: int, at: float | None = None) -> uuid.UUID:
    seconds = int(time.time() if at is None else at)
    payload = link_id.to_bytes(4, "big") + seconds.to_bytes(4, "big") + secrets.token_bytes(4)
    return uuid.UUID(bytes=payload + _mac(payload))


def parse_click_id(click_id: uuid.UUID) -> tuple[int, datetime] | None:
    """(link id, time) from a click id made by ``new_click_id``; None if not genuine."""
    raw = click_id.bytes
    if not hmac.compare_digest(_mac(raw[:12]), raw[12:]):
        return None
    link_id = int.from_bytes(raw[:4], "big")
    seconds = int.from_bytes(raw[4:8], "big")
    return link_id, datetime.fromtimestamp(seconds, tz=UTC)


# ---------------------------------------------------------------- link cache

_links: dict[str, tuple[float, ReferralLink | None]] = {}


def cached_link(code: str, load) -> ReferralLink | None:
    ttl = settings.LINK_CACHE_SECONDS
    if ttl <= 0:
        return load(code)
    now = time.monotonic()
    hit = _links.get(code)
    if hit and hit[0] > now:
        return hit[1]
    link = load(code)
    if len(_links) > 10_000:  # bounded: unknown codes must not grow it forever
        _links.clear()
    _links[code] = (now + ttl, link)
    return link


def clear_link_cache() -> None:
    _links.clear()


# ---------------------------------------------------------------- click buffer


class ClickBuffer:
    """Clicks waiting to be written, with the thread that writes them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rows: list[Click] = []
        self._pid = None
        self._thread = None
        self._stop = threading.Event()

    def add(self, click: Click) -> None:
        with self._lock:
            if self._pid != os.getpid():
                # A forked worker starts with its own buffer and writer thread.
                self._rows, self._pid = [], os.getpid()
                self._start()
            self._rows.append(click)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="click-writer", daemon=True)
        self._thread.start()

    def _take(self) -> list[Click]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows

    def _run(self) -> None:
        while not self._stop.is_set():
            # Re-read each round (capped at 1 s) so a changed setting applies quickly.
            self._stop.wait(min(max(settings.CLICK_FLUSH_MS, 1), 1000) / 1000)
            if self._rows:
                close_old_connections()  # this thread's own connection only
                self.flush()
        connection.close()

    def stop(self) -> None:
        """Write what is left and end the writer thread (tests; shutdown hooks)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def flush(self) -> int:
        rows = self._take()
        if not rows:
            return 0
        try:
            Click.objects.bulk_create(rows, ignore_conflicts=True)
        except Exception:
            # Keep them for the next round rather than drop them (bounded), on a
            # fresh connection in case this one broke.
            logger.exception("could not write %s clicks; retrying", len(rows))
            if threading.current_thread() is self._thread:
                connection.close()
            with self._lock:
                self._rows[:0] = rows[-100_000:]
            return 0
        return len(rows)


buffer = ClickBuffer()
atexit.register(lambda: buffer.flush())


def click_write(click: Click) -> None:
    if settings.CLICK_FLUSH_MS > 0:
        buffer.add(click)
    else:
        click.save(force_insert=True)
