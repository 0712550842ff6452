"""Where a warm metrics call spends its time: the queries with their times, then cProfile.

Runs against the program ``bench/metrics.py`` generated (slug ``bench-metrics``):

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/adv_meas_full \\
        .venv/bin/python bench/profile_metrics.py --days 30 [--dashboard]

The call is made once to fill the worker's cache of finished days, then timed
again: wall time, each query's time (slowest first), and the functions with the
most cumulative time under cProfile. ``--dashboard`` profiles ``GET /admin/``
instead of ``program_metrics``.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--dashboard", action="store_true")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--width", type=int, default=220, help="Characters of SQL shown.")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/adv_meas_bench"
        ),
    )
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from advocacy.models import Program
    from measurement import daily, selectors

    program = Program.objects.get(slug="bench-metrics")
    today = datetime.now(UTC).date()
    lo = today - timedelta(days=args.days - 1)
    if args.dashboard:
        user, _ = get_user_model().objects.get_or_create(
            username="bench-metrics", defaults={"is_staff": True, "is_superuser": True}
        )
        browser = Client()
        browser.force_login(user)

        def call():
            response = browser.get(f"/admin/?program={program.slug}&from={lo}&to={today}")
            assert response.status_code == 200
    else:

        def call():
            with daily.memoized():
                selectors.program_metrics(program=program, date_from=lo, date_to=today)

    call()  # fills the cache of finished days
    call()
    t0 = time.perf_counter()
    call()
    wall = time.perf_counter() - t0
    with CaptureQueriesContext(connection) as queries:
        call()
    timed = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))
    sql = sum(float(q["time"]) for q in timed)
    print(f"wall {wall * 1000:.0f} ms; {len(timed)} queries, SQL {sql * 1000:.0f} ms")
    for q in timed[:15]:
        print(f"  {float(q['time']) * 1000:7.1f} ms  {q['sql'][: args.width]}")
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    out = io.StringIO()
    order = os.environ.get("PROF_SORT", "cumulative")  # or tottime
    pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
