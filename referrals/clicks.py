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
import functools
import hashlib
import hmac
import json
import logging
import os
import random
import threading
import time
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.db import close_old_connections, connection

from .models import Click, ReferralLink

logger = logging.getLogger(__name__)
_random = random.Random()


# ---------------------------------------------------------------- click ids


def _mac(payload: bytes) -> bytes:
    mac = _keyed(settings.SECRET_KEY).copy()  # copying a keyed HMAC skips the key setup
    mac.update(payload)
    return mac.digest()[:4]


@functools.lru_cache(maxsize=2)
def _keyed(secret: str):
    # A key of its own for click ids, derived from SECRET_KEY.
    key = hashlib.sha256(b"advocacy.click-id:" + secret.encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def new_click_id(link_id: int, at: float | None = None) -> uuid.UUID:
    seconds = int(time.time() if at is None else at)
    # The random part only keeps ids of one link and second apart (the MAC, not
    # this, makes ids unforgeable), so a fast non-cryptographic source will do.
    payload = link_id.to_bytes(4, "big") + seconds.to_bytes(4, "big") + _random.randbytes(4)
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


# The columns a click row is written with, in order (see ``click_row``).
COLUMNS = ("id", "program_id", "link_id", "advocate_id", "channel", "user_agent", "ip_hash",
           "created_at")  # fmt: skip


INSERT_CHUNK = 500  # rows per statement (8 parameters each: within SQLite's limit)


def insert_rows(rows: list[tuple]) -> None:
    """Write click rows in one statement per chunk; rows already written are skipped."""
    table = connection.ops.quote_name(Click._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The whole batch as one JSON parameter: serialised in C, unpacked by
            # PostgreSQL (on its own core), instead of adapting 8 values per row.
            batch = json.dumps(
                [(str(r[0]), *r[1:7], r[7].isoformat()) for r in rows], separators=(",", ":")
            )
            types = ("uuid", "bigint", "bigint", "bigint", "text", "text", "text", "timestamptz")
            fields = ", ".join(f"(e->>{i})::{t}" for i, t in enumerate(types))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {fields} "  # noqa: S608
                "FROM json_array_elements(%s::json) AS e ON CONFLICT DO NOTHING",
                [batch],
            )
            return
        id_field = Click._meta.get_field("id")
        at_field = Click._meta.get_field("created_at")
        row_marks = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            values = ", ".join([row_marks] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT DO NOTHING",  # noqa: S608
                [
                    value
                    for r in chunk
                    for value in (
                        id_field.get_db_prep_value(r[0], connection),
                        *r[1:7],
                        at_field.get_db_prep_value(r[7], connection),
                    )
                ],
            )


class ClickBuffer:
    """Clicks waiting to be written, with the thread that writes them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rows: list[tuple] = []
        self._pid = None
        self._thread = None
        self._stop = threading.Event()

    def add(self, click: tuple) -> None:
        with self._lock:
            if self._pid != os.getpid():
                # A forked worker starts with its own buffer and writer thread.
                self._rows, self._pid = [], os.getpid()
                self._start()
            self._rows.append(click)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="click-writer", daemon=True)
        self._thread.start()

    def _take(self) -> list[tuple]:
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
            insert_rows(rows)
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


def click_write(row: tuple) -> None:
    """Write a click row (values in ``COLUMNS`` order), now or with the next batch."""
    if settings.CLICK_FLUSH_MS > 0:
        buffer.add(row)
    else:
        insert_rows([row])
