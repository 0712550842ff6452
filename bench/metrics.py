"""Metrics benchmark: the dashboard and GET /api/v1/metrics on a large program.

Generates one program's year of data with PostgreSQL COPY (at ``--scale 1``:
10,000,000 clicks, 1,000,000 referrals, 300,000 orders, plus advocates,
rewards, refunds and NPS answers), builds the rollups, then times in the same
run, in process (Django's test client, no HTTP server):

* ``api``: ``GET /api/v1/metrics?from=&to=`` (rollups plus the live days);
* ``dashboard``: ``GET /admin/`` (the manager's dashboard: both periods, every chart);
* ``raw``: the same metrics counted from the raw tables (``source="raw"``).

for a 30-day and a 365-day period, and prints p50/p95 per case as JSON.

    createdb -h 127.0.0.1 -U postgres adv_meas_bench
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/adv_meas_bench \\
        .venv/bin/python bench/metrics.py --scale 0.1 --runs 20

A benchmark, not a test: nothing here runs under pytest. It drops and rebuilds
its own program (slug ``bench-metrics``) on each run with ``--generate``.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _extra_columns(model, columns: list[str]) -> list:
    """Columns the rows leave out but the table requires (NOT NULL, added by later
    migrations): they get the model's default, so the generator survives new fields."""
    return [
        f
        for f in model._meta.concrete_fields
        if f.column not in columns
        and not f.null
        and not f.primary_key
        and f.get_default() is not None
    ]


def copy(model, columns: list[str], rows) -> int:
    """COPY ``rows`` (tuples in ``columns`` order) into ``model``'s table."""
    from django.db import connection

    table = model._meta.db_table
    extra = _extra_columns(model, columns)
    defaults = tuple(f.get_db_prep_save(f.get_default(), connection) for f in extra)
    cols = ", ".join(f'"{c}"' for c in [*columns, *(f.column for f in extra)])
    n = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3
        with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as out:
            for row in rows:
                out.write_row((*row, *defaults))
                n += 1
    return n


def _copy_text(value) -> str:
    """One default in COPY's text format (the values ``_extra_columns`` gives)."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    assert not any(c in text for c in "\\\t\n\r"), text
    return text


def copy_lines(model, columns: list[str], lines, chunk: int = 20_000) -> int:
    """COPY pre-formatted lines (COPY text format, ``columns`` tab-separated, no line
    end) into ``model``'s table: the fast path for the ten million clicks, where
    building a tuple per row for ``write_row`` was most of the generator's time."""
    from django.db import connection

    table = model._meta.db_table
    extra = _extra_columns(model, columns)
    suffix = (
        "".join("\t" + _copy_text(f.get_db_prep_save(f.get_default(), connection)) for f in extra)
        + "\n"
    )
    cols = ", ".join(f'"{c}"' for c in [*columns, *(f.column for f in extra)])
    n = 0
    batch: list[str] = []
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3
        with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as out:
            for line in lines:
                batch.append(line)
                if len(batch) == chunk:
                    out.write((suffix.join(batch) + suffix).encode())
                    n += len(batch)
                    batch = []
            if batch:
                out.write((suffix.join(batch) + suffix).encode())
                n += len(batch)
    return n


def generate(scale: float, seed: int = 7):
    from django.db import connection, transaction

    from advocacy.models import Advocate, Program
    from recruitment.models import NpsResponse
    from referrals.models import Click, Conversion, Referral, ReferralLink
    from rewards.models import Reward
    from rewards.services import program_create_with_offer

    rnd = random.Random(seed)
    n_clicks = int(10_000_000 * scale)
    n_referrals = int(1_000_000 * scale)
    n_orders = int(300_000 * scale)
    n_advocates = max(10, int(50_000 * scale))
    n_customers = max(10, int(100_000 * scale))
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=365)
    span = int((now - start).total_seconds())

    def when():
        return start + timedelta(seconds=rnd.randrange(span))

    old = Program.objects.filter(slug="bench-metrics").first()
    if old:
        with connection.cursor() as c:
            for sql in (
                "DELETE FROM measurement_dailyrollup WHERE program_id = %s",
                "DELETE FROM measurement_programdayrollup WHERE program_id = %s",
                "DELETE FROM measurement_referralrollup WHERE program_id = %s",
                "DELETE FROM measurement_placementdayrollup WHERE program_id = %s",
                "DELETE FROM measurement_customerdayrollup WHERE program_id = %s",
                "DELETE FROM measurement_npsdayrollup WHERE program_id = %s",
                "DELETE FROM measurement_cohortrollup WHERE program_id = %s",
                "DELETE FROM measurement_rollupmark WHERE program_id = %s",
                "DELETE FROM recruitment_npsresponse WHERE program_id = %s",
                "DELETE FROM rewards_ledgerentry WHERE program_id = %s",
                "DELETE FROM rewards_reward WHERE program_id = %s",
                "DELETE FROM referrals_conversion WHERE program_id = %s",
                "DELETE FROM referrals_referral WHERE program_id = %s",
                "DELETE FROM referrals_click WHERE program_id = %s",
            ):
                c.execute(sql, [old.pk])
        old.slug = f"bench-old-{uuid.uuid4().hex[:8]}"
        old.save()
    program, secret, _ = program_create_with_offer(
        name="Bench Metrics",
        landing_url="https://shop.example.com/",
        currency="EUR",
        advocate_reward_minor=1000,
        friend_discount_percent=10,
    )
    Program.objects.filter(pk=program.pk).update(slug="bench-metrics")
    program.refresh_from_db()
    timings = {}
    t0 = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as c:
            # The generated rows are consistent by construction: skip the foreign-key
            # triggers (checking 10,000,000 clicks' keys at commit took 12 minutes).
            # Needs a superuser, as the bench database's owner "postgres" is.
            c.execute("SET LOCAL session_replication_role = replica")
        copy(
            Advocate,
            ["program_id", "email", "email_normalized", "name", "external_id", "locale",
             "status", "created_at"],
            (
                (program.pk, f"a{i}@bench.example", f"a{i}@bench.example", "", f"cust-{i}", "",
                 "active", when())
                for i in range(n_advocates)
            ),
        )  # fmt: skip
        advocates = list(
            Advocate.objects.filter(program=program).order_by("pk").values_list("pk", flat=True)
        )
        tag = uuid.uuid4().hex[:6]
        copy(
            ReferralLink,
            ["program_id", "advocate_id", "code", "channel", "is_active", "created_at"],
            ((program.pk, a, f"B{tag}{i}", "", True, start) for i, a in enumerate(advocates)),
        )
        links = dict(ReferralLink.objects.filter(program=program).values_list("advocate_id", "pk"))
        # A few busy advocates, many quiet ones.
        weights = [1 / (i + 1) ** 0.8 for i in range(len(advocates))]
        channels = ["", "email", "whatsapp", "facebook", "x", "sms"]
        picks = rnd.choices(advocates, weights, k=n_clicks)
        # Click times to the second over the year, as text: an hour's prefix and
        # "MM:SS", both looked up (formatting a datetime per row was the slow part).
        hour0 = start.replace(minute=0, second=0)
        click_span = int((now - hour0).total_seconds())
        hours = [
            (hour0 + timedelta(hours=h)).strftime("%Y-%m-%d %H:")
            for h in range(click_span // 3600 + 1)
        ]
        minutes = [f"{m:02d}:{sec:02d}+00" for m in range(60) for sec in range(60)]
        rand, bits = rnd.random, rnd.getrandbits
        pid = program.pk
        copy_lines(
            Click,
            ["id", "program_id", "link_id", "advocate_id", "channel", "user_agent", "ip_hash",
             "created_at"],
            (
                f"{bits(128):032x}\t{pid}\t{links[a]}\t{a}\t{channels[int(rand() * 6)]}\t\t\t"
                f"{hours[(t := int(rand() * click_span)) // 3600]}{minutes[t % 3600]}"
                for a in picks
            ),
        )  # fmt: skip
        timings["clicks_s"] = round(time.perf_counter() - t0, 1)
        ref_adv = rnd.choices(advocates, weights, k=n_referrals)
        copy(
            Referral,
            ["program_id", "advocate_id", "link_id", "friend_email", "friend_email_normalized",
             "friend_external_id", "friend_name", "status", "rejection_reason", "created_at"],
            (
                (program.pk, a, links[a], f"f{i}@bench.example", f"f{i}@bench.example",
                 f"friend-{i}", "", "signed_up", "", when())
                for i, a in enumerate(ref_adv)
            ),
        )  # fmt: skip
        referrals = list(
            Referral.objects.filter(program=program)
            .order_by("pk")
            .values_list("pk", "advocate_id", "friend_external_id", "created_at")
        )
        # A third of the orders are referred friends' purchases, the rest customers'
        # orders (half of those history sent with backfill); 3 % partly, 2 % fully
        # refunded; 1 % in another currency.
        rows = []
        for i in range(n_orders):
            amount = rnd.randrange(1000, 20000)
            refunded = 0
            r = rnd.random()
            if r < 0.02:
                refunded = amount
            elif r < 0.05:
                refunded = amount // 3
            status = (
                "refunded"
                if refunded == amount
                else "partially_refunded"
                if refunded
                else "completed"
            )
            currency = "USD" if rnd.random() < 0.01 else "EUR"
            if i % 3 == 0 and referrals:
                ref_id, adv, friend, created = rnd.choice(referrals)
                at = created + timedelta(hours=rnd.randrange(1, 24 * 20))
                at = min(at, now - timedelta(minutes=1))
                rows.append((program.pk, f"o{i}", amount, refunded, currency, "", "", friend,
                             ref_id, adv, True, "referral_code", "", status, "api", False, "",
                             "", f"fp{i}", at, at))  # fmt: skip
            else:
                cust = f"cust-{rnd.randrange(n_customers)}"
                at = when()
                backfill = i % 2 == 0
                rows.append((program.pk, f"o{i}", amount, refunded, currency, "", "", cust,
                             None, None, False, "none", "", status, "api", backfill, "", "",
                             f"fp{i}", at, at))  # fmt: skip
        copy(
            Conversion,
            ["program_id", "order_id", "amount_minor", "refunded_minor", "currency",
             "customer_email", "customer_email_normalized", "customer_external_id",
             "referral_id", "advocate_id", "attributed", "attribution_method",
             "attribution_reason", "status", "source", "backfill", "stripe_payment_intent",
             "payment_fingerprint", "request_fingerprint", "occurred_at", "created_at"],
            rows,
        )  # fmt: skip
        attributed = list(
            Conversion.objects.filter(program=program, attributed=True).values_list(
                "pk", "advocate_id", "referral_id", "created_at", "refunded_minor", "amount_minor"
            )
        )
        copy(
            Reward,
            ["program_id", "advocate_id", "conversion_id", "referral_id", "recipient", "kind",
             "amount_minor", "reversed_minor", "currency", "coupon_code", "coupon_percent_off",
             "perk_description", "requires_approval", "reason", "idempotency_key", "status",
             "available_at", "created_at"],
            (
                (program.pk, adv, pk, ref, "advocate", "cash", 1000,
                 1000 * refunded // amount, "EUR", "", 0, "", False, "bench",
                 f"bench:{program.pk}:{pk}", "pending", at + timedelta(days=14), at)
                for pk, adv, ref, at, refunded, amount in attributed
            ),
        )  # fmt: skip
        copy(
            NpsResponse,
            ["program_id", "customer_external_id", "customer_email_normalized", "score",
             "category", "comment", "occurred_at", "created_at"],
            (
                (program.pk, f"cust-{rnd.randrange(n_customers)}", "", s,
                 NpsResponse.category_for(s), "", t, t)
                for s, t in ((rnd.choice([3, 6, 7, 8, 9, 9, 10, 10]), when())
                             for _ in range(max(10, n_customers // 5)))
            ),
        )  # fmt: skip
    timings["generate_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    with connection.cursor() as c:
        # Real traffic writes clicks, referrals and orders in time order, so a day's rows
        # sit together on disk; the generator wrote them in random order. Put them in
        # time order (at full scale a live day's 27,000 clicks were otherwise 27,000
        # random page reads), then VACUUM ANALYZE as autovacuum would.
        for table, index in (
            ("referrals_click", "click_program_created"),
            ("referrals_referral", "referral_program_created"),
            ("referrals_conversion", "conversion_program_occurred"),
        ):
            c.execute(f"CLUSTER {table} USING {index}")
        c.execute("VACUUM ANALYZE")
    timings["cluster_s"] = round(time.perf_counter() - t0, 1)
    counts = {
        "clicks": n_clicks,
        "referrals": n_referrals,
        "orders": n_orders,
        "advocates": n_advocates,
        "rewards": len(attributed),
    }
    return program, secret, counts, timings


def reuse():
    """The program of a previous run, its rollups refreshed, and a new secret key."""
    from advocacy.models import ApiKey, Program
    from advocacy.services import api_key_create
    from measurement import services
    from referrals.models import Click, Conversion, Referral

    program = Program.objects.get(slug="bench-metrics")
    t0 = time.perf_counter()
    services.rollups_sweep(days=2)
    services.rollups_refresh()
    _, secret = api_key_create(program=program, kind=ApiKey.Kind.SECRET, name="bench")
    analyze()
    counts = {
        "clicks": Click.objects.filter(program=program).count(),
        "referrals": Referral.objects.filter(program=program).count(),
        "orders": Conversion.objects.filter(program=program).count(),
    }
    return program, secret, counts, {"rollups_refresh_s": round(time.perf_counter() - t0, 1)}


def build_rollups(program) -> float:
    from measurement import services
    from measurement.models import RollupMark

    today = datetime.now(UTC).date()
    RollupMark.objects.bulk_create(
        [RollupMark(program=program, day=today - timedelta(days=i)) for i in range(1, 368)]
    )
    t0 = time.perf_counter()
    services.rollups_refresh()
    return round(time.perf_counter() - t0, 1)


def analyze() -> None:
    """Fresh planner statistics and visibility maps for the rollups just built (as
    autovacuum would have)."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute("VACUUM ANALYZE")


def timed(fn, runs: int) -> dict:
    t0 = time.perf_counter()
    fn()  # warm (fills the process's cache of finished days: reported as first_ms)
    first = (time.perf_counter() - t0) * 1000
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {
        "first_ms": round(first, 1),
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(p95, 1),
    }


def measure(program, secret: str, runs: int, raw_runs: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from measurement import selectors

    user, _ = get_user_model().objects.get_or_create(
        username="bench-metrics", defaults={"is_staff": True, "is_superuser": True}
    )
    browser = Client()
    browser.force_login(user)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    today = datetime.now(UTC).date()
    out = {}
    for days in (30, 365):
        lo, hi = today - timedelta(days=days - 1), today
        query = f"from={lo}&to={hi}"

        def call_api(query=query):
            response = api.get(f"/api/v1/metrics?{query}")
            assert response.status_code == 200, response.content

        def call_dashboard(query=query):
            response = browser.get(f"/admin/?program={program.slug}&{query}")
            assert response.status_code == 200

        def call_raw(lo=lo, hi=hi):
            selectors.program_metrics(program=program, date_from=lo, date_to=hi, source="raw")

        same = selectors.program_metrics(program=program, date_from=lo, date_to=hi) == (
            selectors.program_metrics(program=program, date_from=lo, date_to=hi, source="raw")
        )
        out[f"{days}d"] = {
            "api": timed(call_api, runs),
            "dashboard": timed(call_dashboard, max(3, runs // 4)),
            "raw": timed(call_raw, raw_runs),
            "rollups_equal_raw": same,
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/adv_meas_bench"
        ),
    )
    parser.add_argument(
        "--raw-runs",
        type=int,
        help="Runs of the raw baseline (default: a quarter of --runs, at least 3); at full "
        "scale one raw 365-day count takes tens of seconds.",
    )
    parser.add_argument("--json", help="Also write the result to this file.")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Time the program a previous run generated (its rollups up to date) again.",
    )
    args = parser.parse_args()
    setup(args.database_url)
    if args.reuse:
        program, secret, counts, timings = reuse()
    else:
        program, secret, counts, timings = generate(args.scale)
        timings["rollups_build_s"] = build_rollups(program)
        analyze()
    result = {
        # Reusing a program: its scale from its clicks (10,000,000 at scale 1).
        "scale": counts["clicks"] / 10_000_000 if args.reuse else args.scale,
        "rows": counts,
        "setup": timings,
        "timings": measure(program, secret, args.runs, args.raw_runs or max(3, args.runs // 4)),
        "target_p95_ms": 300,
        "date": datetime.now(UTC).date().isoformat(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
