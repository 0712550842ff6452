"""The click path of ``GET /r/<code>``, kept close to the cost of a bare redirect.

* **Click ids are made here**, not by the database: 128 bits holding the link id
  (32), the Unix second (32), the placement (8: a known one's number, 0 for none
  or a merchant's own), randomness (24) and an HMAC of those (32). A conversion
  can be attributed from the id alone — the link, the time and a known placement
  are in it, vouched for by the MAC — so attribution never depends on the click's row.
* **Rows are durable before the 302, and written in batches**: the redirect
  appends the click to its process's spool file (one ``write``; see
  ``ClickBuffer``), and a background thread inserts the spool every
  ``CLICK_FLUSH_MS`` with one multi-row INSERT. A worker killed outright loses
  nothing: another process's writer takes its spool over. While the database is
  down the spool grows, and is written when it is back. ``CLICK_FLUSH_MS=0``
  writes each click at once (the SQLite default).
* **The link is cached** in process for ``LINK_CACHE_SECONDS``: pausing a
  program or banning an advocate stops new clicks within that time. While the
  database is unreachable, a link this process knows keeps working.
"""

import atexit
import fcntl
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
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from .models import Click, ReferralLink
from .placements import KNOWN as KNOWN_PLACEMENTS

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


def new_click_id(link_id: int, at: float | None = None, placement: str = "") -> uuid.UUID:
    seconds = int(time.time() if at is None else at)
    number = KNOWN_PLACEMENTS.index(placement) + 1 if placement in KNOWN_PLACEMENTS else 0
    # The random part only keeps ids of one link and second apart (the MAC, not
    # this, makes ids unforgeable), so a fast non-cryptographic source will do.
    payload = (
        link_id.to_bytes(4, "big")
        + seconds.to_bytes(4, "big")
        + bytes((number,))
        + _random.randbytes(3)
    )
    return uuid.UUID(bytes=payload + _mac(payload))


def click_id_placement(click_id: uuid.UUID) -> str:
    """The known placement a genuine click id carries ("" for none or a merchant's own).

    Ids made before placements had 4 random bytes here: one of those whose row was
    lost may read as a placement by chance (9 in 256).
    """
    number = click_id.bytes[8]
    return KNOWN_PLACEMENTS[number - 1] if 0 < number <= len(KNOWN_PLACEMENTS) else ""


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


class LinkUnavailable(Exception):
    """The database cannot be reached and this process does not know the link."""


def cached_link(code: str, load) -> ReferralLink | None:
    ttl = settings.LINK_CACHE_SECONDS
    now = time.monotonic()
    hit = _links.get(code)
    if ttl > 0 and hit and hit[0] > now:
        return hit[1]
    try:
        link = load(code)
    except DatabaseError as exc:
        if hit is None:
            raise LinkUnavailable(code) from exc
        # The database is down: a link we know keeps working (its clicks are spooled),
        # and we ask again after another TTL rather than on every click.
        logger.warning("link %s served from cache: the database is unreachable", code)
        _links[code] = (now + max(ttl, 1), hit[1])
        return hit[1]
    if ttl <= 0:
        return link
    if len(_links) > 10_000:  # bounded: unknown codes must not grow it forever
        _links.clear()
    _links[code] = (now + ttl, link)
    return link


def clear_link_cache() -> None:
    _links.clear()


# ---------------------------------------------------------------- click buffer


# The columns a click row is written with, in order (see ``click_row``).
COLUMNS = ("id", "program_id", "link_id", "advocate_id", "channel", "user_agent", "ip_hash",
           "created_at", "placement", "referrer_host")  # fmt: skip


INSERT_CHUNK = 500  # rows per statement (10 parameters each: within SQLite's limit)


def insert_rows(rows: list[tuple]) -> None:
    """Write click rows in one statement per chunk; rows already written are skipped."""
    table = connection.ops.quote_name(Click._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The whole batch as one JSON parameter: serialised in C, unpacked by
            # PostgreSQL (on its own core), instead of adapting 8 values per row.
            batch = json.dumps(
                [(str(r[0]), *r[1:7], r[7].isoformat(), r[8], r[9]) for r in rows],
                separators=(",", ":"),
            )
            types = ("uuid", "bigint", "bigint", "bigint", "text", "text", "text", "timestamptz",
                     "text", "text")  # fmt: skip
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
                        r[8],
                        r[9],
                    )
                ],
            )


# How often a writer looks for the spool files of processes that died.
ORPHAN_CHECK_SECONDS = 1.0


def _encode(row: tuple) -> bytes:
    return (
        json.dumps(
            [str(row[0]), *row[1:7], row[7].isoformat(), row[8], row[9]], separators=(",", ":")
        )
        + "\n"
    ).encode()


def _decode(line: bytes) -> tuple | None:
    try:
        values = json.loads(line)
        # A line spooled before clicks had a placement has 8 values, before they had a
        # referrer host 9: the missing ones are empty.
        placement = values[8] if len(values) > 8 else ""
        referrer_host = values[9] if len(values) > 9 else ""
        return (
            uuid.UUID(values[0]),
            *values[1:7],
            datetime.fromisoformat(values[7]),
            placement,
            referrer_host,
        )
    except (ValueError, IndexError, TypeError):
        return None  # a line cut short by a crash mid-write: nothing to recover


class ClickBuffer:
    """Clicks on their way to the database, safe on disk before the redirect answers.

    Each click is appended (one ``write``) to this process's spool file, which it
    holds an exclusive ``flock`` on. The kernel keeps the bytes when the process
    is killed, and the lock goes with it: any other process's writer then takes
    the orphaned file over and writes its clicks. A writer thread moves the spool
    aside, inserts its rows (a click id is the primary key: writing twice is
    harmless) and deletes it; when the database is down, the file stays for the
    next round.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pid = None
        self._fd = None
        self._path = None
        self._thread = None
        self._stop = threading.Event()
        self._orphans_checked = 0.0

    # -- the redirect's side

    def add(self, click: tuple) -> None:
        line = _encode(click)
        with self._lock:
            if self._pid != os.getpid():
                # A forked worker starts with its own spool file and writer thread.
                self._pid, self._fd = os.getpid(), None
                self._open()
                self._start()
            os.write(self._fd, line)

    def _directory(self) -> Path:
        directory = Path(settings.CLICK_SPOOL_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _open(self) -> None:
        """A new spool file, locked before it gets a name other writers look for."""
        directory = self._directory()
        name = f"clicks-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        temporary = directory / f"{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._path = directory / f"{name}.spool"
        os.rename(temporary, self._path)
        self._fd = fd

    # -- the writer's side

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="click-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            # Re-read each round (capped at 1 s) so a changed setting applies quickly.
            self._stop.wait(min(max(settings.CLICK_FLUSH_MS, 1), 1000) / 1000)
            close_old_connections()  # this thread's own connection only
            self.flush()
        connection.close()

    def _rotate(self) -> list[tuple[Path, int]]:
        """This process's spool moved aside (still locked by us), a fresh one in its place."""
        with self._lock:
            if self._pid != os.getpid() or self._fd is None:
                return []
            if os.fstat(self._fd).st_size == 0:
                return []
            full, fd = self._path.with_suffix(".flushing"), self._fd
            os.rename(self._path, full)
            self._open()
        return [(full, fd)]

    def _orphans(self) -> list[tuple[Path, int]]:
        """Spool files whose process died (their lock is free), and half-done batches."""
        found = []
        own = {self._path.name} if self._path else set()
        for path in sorted(self._directory().glob("clicks-*")):
            if path.suffix not in (".spool", ".flushing") or path.name in own:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # taken and written by another process meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # its process is alive and owns it
                continue
            if not path.exists():
                os.close(fd)
                continue
            found.append((path, fd))
        return found

    def _take(self) -> list[tuple]:
        """Everything waiting in this process's spool, removed from it (not written)."""
        rows = []
        for path, fd in self._rotate():
            rows += self._read(path)
            os.unlink(path)
            os.close(fd)
        return rows

    @staticmethod
    def _read(path: Path) -> list[tuple]:
        with open(path, "rb") as f:
            return [row for line in f if (row := _decode(line)) is not None]

    def flush(self) -> int:
        """Write this process's clicks and any orphaned ones; returns how many were written."""
        written = 0
        now = time.monotonic()
        orphans = []
        if now - self._orphans_checked >= ORPHAN_CHECK_SECONDS:
            self._orphans_checked = now
            orphans = self._orphans()
        for path, fd in [*self._rotate(), *orphans]:
            rows = []
            try:
                rows = self._read(path)
                if rows:
                    insert_rows(rows)
                os.unlink(path)
                written += len(rows)
            except Exception:
                # The file stays (unlocked when we close it) for the next round; a
                # fresh connection in case this one broke.
                logger.exception("could not write %s clicks; retrying", len(rows))
                self._orphans_checked = 0.0  # the next round takes the file up again
                if threading.current_thread() is self._thread:
                    connection.close()
            finally:
                os.close(fd)
        return written

    def stop(self) -> None:
        """Write what is left and end the writer thread (tests; shutdown hooks)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()


buffer = ClickBuffer()
atexit.register(lambda: buffer.flush())


def click_write(row: tuple) -> None:
    """Write a click row (values in ``COLUMNS`` order), now or with the next batch."""
    if settings.CLICK_FLUSH_MS > 0:
        buffer.add(row)
    else:
        insert_rows([row])
