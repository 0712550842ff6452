"""Where the time of one ``POST /api/v1/conversions`` goes, in-process (no gunicorn, no wrk).

    .venv/bin/python bench/profile_conversion.py [--requests 300] [--broker-url URL]
        [--hot] [--profile] [--show-queries]

Sends ``--requests`` new orders through Django's test client (the whole middleware stack
and the real view, ``DEBUG=0``, the benchmark database; run ``bench/run.sh --conversions``
once first to create it and the benchmark advocates), spread over the 200 benchmark
advocates (``--hot``: all for one). Prints the SQL statements per request (the last
request's, with ``--show-queries``), the wall and CPU time per request of this process,
and with ``--profile`` the functions that took the most time (cProfile, cumulative).
With ``--broker-url`` tasks are published to a queue of its own there (deleted at the
end), as in production; without it they run inside the request.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.conversions import HOST, PROXY_HEADERS, conversion_body  # noqa: E402
from bench.redirect import DEFAULT_DATABASE_URL, BrokerQueue, bench_env  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--hot", action="store_true", help="every order for one advocate")
    p.add_argument("--profile", action="store_true", help="cProfile, top 40 by cumulative time")
    p.add_argument("--show-queries", action="store_true")
    p.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    p.add_argument("--broker-url", default=os.environ.get("BENCH_BROKER_URL", ""))
    args = p.parse_args(argv)
    args.broker_queue = f"advocacy-profile-{os.getpid()}"
    env = bench_env(args)
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.conversions import setup_advocates
    from storefront import demo

    codes = setup_advocates(200)
    pool = [codes["hot"]] if args.hot else codes["many"]
    client = Client(
        HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {demo.DEMO_SECRET_KEY}", **PROXY_HEADERS
    )
    tag = f"p{int(time.time())}.{os.getpid()}"

    def send(n: int):
        body = json.dumps(conversion_body(f"bench-{tag}-{n}", pool[n % len(pool)]))
        response = client.post("/api/v1/conversions", data=body, content_type="application/json")
        if response.status_code != 201:
            raise SystemExit(f"answered {response.status_code}: {response.content[:300]!r}")

    for n in range(5):  # warm-up: imports, caches, the connection
        send(n)
    profiler = cProfile.Profile() if args.profile else None
    counts = []
    backend = _backend_pid(connection)
    pg0 = _cpu_seconds(backend)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for n in range(5, 5 + args.requests):
        with CaptureQueriesContext(connection) as ctx:
            send(n)
        counts.append(len(ctx.captured_queries))
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    pg = _cpu_seconds(backend) - pg0 if backend == _backend_pid(connection) else None
    print(
        f"{args.requests} conversions ({'one advocate' if args.hot else '200 advocates'},"
        f" {'broker ' + args.broker_url if args.broker_url else 'no broker: tasks in-process'}):"
        f" {wall * 1000 / args.requests:.2f} ms wall, {cpu * 1000 / args.requests:.2f} ms CPU"
        f" of this process per request{' (under cProfile)' if profiler else ''},"
        f" {'n/a' if pg is None else f'{pg * 1000 / args.requests:.2f} ms'} CPU of its"
        " PostgreSQL backend;"
        f" SQL statements per request: min {min(counts)}, max {max(counts)},"
        f" all {sorted(set(counts))}"
    )
    if args.show_queries:
        for i, q in enumerate(ctx.captured_queries, 1):
            print(f"{i:3d}. {q['sql'][:400]}")
    if profiler:
        profiler.dump_stats("/tmp/serving-conv.prof")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    if args.broker_url:
        BrokerQueue(args.broker_url, args.broker_queue).clear()
    return 0


def _backend_pid(connection) -> int | None:
    """The PostgreSQL backend serving this process's connection (None on SQLite)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a local process, from /proc (0 when unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
