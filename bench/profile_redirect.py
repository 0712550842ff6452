"""Where a ``GET /r/<code>`` request spends its time, in-process (no gunicorn, no wrk).

Calls the project's WSGI application directly, with the same environment as
``bench/redirect.py`` (DEBUG=0, PostgreSQL, ``bench.settings``), and reports per request:
wall and CPU time of ``/bare/`` and ``/r/<code>``, the SQL statements the redirect runs and
the time spent in each (``connection.execute_wrapper``), then the pieces of the redirect
path called one by one (``referrals.views.referral_redirect`` without middleware,
``referrals.selectors.link_for_redirect`` cached and not, ``referrals.services.click_record``
buffered and not, ``referrals.clicks.insert_rows`` as the writer thread calls it,
``referrals.views._landing``), and optionally a pyinstrument profile when pyinstrument is
importable (it is not a project dependency)::

    .venv/bin/python bench/profile_redirect.py [--requests 2000] [--pyinstrument]

Run ``bench/redirect.py`` once first: it creates, migrates and seeds the database.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.redirect import DEFAULT_DATABASE_URL, HOST  # noqa: E402


def setup_django(database_url: str):
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="0",
        SECRET_KEY="bench-only-secret-key-not-for-production-0123456789abcdef",  # noqa: S106
        ALLOWED_HOSTS=HOST,
        DATABASE_URL=database_url,
        # One address sends every click: counted, never past the limit.
        REDIRECT_RATE_PER_IP="1000000000/m",
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def environ_for(path: str) -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": HOST,
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": HOST,
        "HTTP_HOST": f"{HOST}:8000",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128",
        "HTTP_ACCEPT": "text/html,application/xhtml+xml",
        "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.8",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(app, path: str) -> str:
    status = []
    response = app(environ_for(path), lambda s, headers, exc_info=None: status.append(s))
    try:
        for _ in response:
            pass
    finally:
        response.close()  # fires request_finished, like gunicorn does
    return status[0]


REPEAT = 5  # batches per measurement; the fastest batch is reported (least disturbed)


def timed(app, path: str, n: int) -> tuple[float, float]:
    """(wall ms, CPU ms) per request: the fastest of REPEAT batches of ``n // REPEAT``."""
    batch, best = max(n // REPEAT, 1), (float("inf"), float("inf"))
    for _ in range(REPEAT):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(batch):
            status = call(app, path)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if not status.startswith("302"):
            raise SystemExit(f"{path} answered {status}")
        best = min(best, (wall * 1000 / batch, cpu * 1000 / batch))
    return best


class QueryTimer:
    """``connection.execute_wrapper`` that times each statement (wall: round trip + server)."""

    def __init__(self) -> None:
        self.by_sql: dict[str, list[float]] = collections.defaultdict(list)

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.by_sql[sql.split(" WHERE ")[0][:90]].append(time.perf_counter() - start)


def per_call(fn, n: int) -> float:
    """Wall ms per call of ``fn``: the fastest of REPEAT batches of ``n // REPEAT`` calls."""
    batch, best = max(n // REPEAT, 1), float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        best = min(best, (time.perf_counter() - start) * 1000 / batch)
    return best


BATCH = 50  # rows per writer batch in the batched-write measurement (about 50 ms of clicks)


def components(n: int, code: str) -> None:
    """The redirect's pieces one by one, each the product's own function called directly."""
    from unittest import mock

    from django.conf import settings
    from django.db import connection
    from django.test import RequestFactory, override_settings
    from django.test.utils import CaptureQueriesContext

    from referrals import clicks, selectors, services
    from referrals.views import _landing, referral_redirect

    link = selectors.link_for_redirect(code)
    if link is None:
        raise SystemExit(f"no referral link {code!r} (run bench/redirect.py once to seed it)")
    ua = environ_for("/")["HTTP_USER_AGENT"]

    def lookup_miss():
        clicks.clear_link_cache()
        return selectors.link_for_redirect(code)

    # The SELECT a cache miss runs, replayed through a raw cursor (round trip + PostgreSQL).
    with CaptureQueriesContext(connection) as captured:
        lookup_miss()
    select_sql = captured.captured_queries[-1]["sql"]

    def raw_select():
        with connection.cursor() as cursor:
            cursor.execute(select_sql)
            cursor.fetchall()

    def click_record():
        return services.click_record(link=link, user_agent=ua, ip=HOST)

    click_id = str(clicks.new_click_id(link.pk))
    request = RequestFactory().get(
        f"/r/{code}", HTTP_USER_AGENT=ua, HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR=HOST
    )

    def view():
        response = referral_redirect(request, code)
        if response.status_code != 302:
            raise SystemExit(f"referral_redirect answered {response.status_code}")

    rows = [
        ("health check (connection.is_usable, before a request's 1st query)", connection.is_usable),
        ("view only, no middleware: views.referral_redirect", view),
        (
            "link lookup, cached: selectors.link_for_redirect",
            lambda: selectors.link_for_redirect(code),
        ),
        (f"link lookup, cache miss (1 per {settings.LINK_CACHE_SECONDS} s)", lookup_miss),
        ("  of which the same SELECT, raw cursor", raw_select),
        ("click: services.click_record (buffered)", click_record),
        ("  of which the click id: clicks.new_click_id", lambda: clicks.new_click_id(link.pk)),
        ("landing URL: views._landing", lambda: _landing(link.program.landing_url, code, click_id)),
    ]
    print()
    print(f"components, wall ms per call, fastest of {REPEAT} batches (clicks written are extra):")
    for label, fn in rows:
        print(f"  {per_call(fn, n):7.3f} ms  {label}")
    with override_settings(CLICK_FLUSH_MS=0):  # each click INSERTed at once, autocommit
        unbuffered = per_call(click_record, n)
    print(f"  {unbuffered:7.3f} ms  click, CLICK_FLUSH_MS=0: services.click_record + its INSERT")

    # What the writer thread spends per click: clicks.insert_rows on batches of BATCH rows,
    # rows made by services.click_record (click_write captured instead of buffered).
    def batch() -> list[tuple]:
        rows: list[tuple] = []
        with mock.patch.object(clicks, "click_write", rows.append):
            for _ in range(BATCH):
                click_record()
        return rows

    batches = [batch() for _ in range(max(n // BATCH, REPEAT))]
    group, best = len(batches) // REPEAT, float("inf")
    for start in range(0, group * REPEAT, group):
        begin = time.perf_counter()
        for rows_ in batches[start : start + group]:
            clicks.insert_rows(rows_)
        best = min(best, (time.perf_counter() - begin) * 1000 / (group * BATCH))
    print(
        f"  {best:7.3f} ms  click row write in the writer thread: clicks.insert_rows, per row"
        f" of a batch of {BATCH}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000, help="requests per measurement [2000]")
    p.add_argument("--code", default="DEMO2345")
    p.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    p.add_argument("--pyinstrument", action="store_true", help="print a pyinstrument profile")
    args = p.parse_args()
    n = args.requests
    app = setup_django(args.database_url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from referrals.clicks import buffer, clear_link_cache

    redirect = f"/r/{args.code}"
    for path in ("/bare/", redirect):  # warm up: imports, URL resolver, connection
        timed(app, path, 50)

    clear_link_cache()  # so the statement a link cache miss runs shows too
    with CaptureQueriesContext(connection) as captured:
        call(app, redirect)
    print(
        f"SQL statements for one {redirect} with the link cache empty (connection reused,"
        " CONN_HEALTH_CHECKS on; the click row goes to the writer thread's next batch):"
    )
    for query in captured.captured_queries:
        print(f"  {query['time']}s  {query['sql'][:150]}")
    print()

    bare_wall, bare_cpu = timed(app, "/bare/", n)
    red_wall, red_cpu = timed(app, redirect, n)
    timer = QueryTimer()
    with connection.execute_wrapper(timer):
        start = time.perf_counter()
        for _ in range(n):
            call(app, redirect)
        timed_wall = (time.perf_counter() - start) * 1000 / n
    print(f"per request, sequential, one process (fastest of {REPEAT} batches of {n // REPEAT}):")
    print(f"  /bare/        wall {bare_wall:.3f} ms   CPU {bare_cpu:.3f} ms")
    print(f"  {redirect:<13} wall {red_wall:.3f} ms   CPU {red_cpu:.3f} ms")
    print(f"  difference    wall {red_wall - bare_wall:.3f} ms   CPU {red_cpu - bare_cpu:.3f} ms")
    print()
    print(
        f"time in cursor.execute per {redirect} in the request thread (link cache misses; click"
        f" rows are written by the writer thread), mean of a separate pass, {timed_wall:.3f}"
        " ms/req:"
    )
    total = 0.0
    for sql, times in timer.by_sql.items():
        per = sum(times) * 1000 / n
        total += per
        print(f"  {per:7.3f} ms  x{len(times) / n:.3f}  {sql}")
    rest = timed_wall - bare_wall - total
    print(f"  {total:7.3f} ms  all SQL; the rest, less /bare/: {rest:.3f} ms")

    components(n, args.code)

    if args.pyinstrument:
        try:
            from pyinstrument import Profiler
        except ImportError:
            print("pyinstrument is not installed", file=sys.stderr)
            return 1
        profiler = Profiler(interval=0.0001)
        with profiler:
            for _ in range(n):
                call(app, redirect)
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    buffer.stop()  # write the clicks still buffered and end the writer thread
    return 0


if __name__ == "__main__":
    sys.exit(main())
