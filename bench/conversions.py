"""Django side of the conversion benchmark (``bench/redirect.py --conversions``).

Two steps, each run in its own process with the benchmark's environment (DEBUG=0,
PostgreSQL, ``bench.settings``)::

    .venv/bin/python bench/conversions.py setup [--advocates 200]
    .venv/bin/python bench/conversions.py queries [--show-queries]

``setup`` enrolls the benchmark's advocates in the demo program through the product's
own services (``advocacy.services.advocate_enroll``; the referral code from
``referrals.services.advocate_primary_link``): ``bench-adv-000@example.com`` ... for the
"many advocates" runs and ``bench-hot@example.com`` for the "one hot advocate" runs.
Enrolling an existing email returns the existing advocate, so it can run every time.

``queries`` sends one ``POST /api/v1/conversions`` (unique order id and customer, one of
the benchmark advocates' codes) through Django's test client, i.e. the whole middleware
stack and the real view, against the benchmark database, and counts the SQL statements
with ``CaptureQueriesContext``: twice, because the first request of a fresh process does
some one-off work; the second is what a warm gunicorn worker runs.

Run ``bench/redirect.py`` once first (it creates, migrates and seeds the database);
``--database-url`` picks the database when run by hand (default: the benchmark's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.redirect import DEFAULT_DATABASE_URL, HOST, bench_env  # noqa: E402

MANY_EMAIL = "bench-adv-{:03d}@example.com"
HOT_EMAIL = "bench-hot@example.com"
PROXY_HEADERS = {"HTTP_X_FORWARDED_PROTO": "https"}


def conversion_body(order_id: str, code: str) -> dict:
    """The body the wrk script sends (bench/conversion.lua), for one order."""
    return {
        "order_id": order_id,
        "amount": "49.90",
        "currency": "EUR",
        "customer": {"email": f"buyer-{order_id}@example.com"},
        "referral_code": code,
    }


def setup_advocates(count: int) -> dict:
    from advocacy.models import Advocate, Program
    from advocacy.services import advocate_enroll
    from integrations.models import WebhookEndpoint
    from referrals.services import advocate_primary_link
    from storefront import demo

    program = Program.objects.get(slug=demo.DEMO_SLUG)
    if WebhookEndpoint.objects.filter(program=program, is_active=True).exists():
        # Tasks run in the web process (no broker): conversions would POST webhooks.
        raise SystemExit(
            "the demo program has active webhook endpoints in this database; the conversion"
            " benchmark would send webhooks. Use a scratch database."
        )

    def code_for(email: str, name: str) -> str:
        advocate, _ = advocate_enroll(program=program, email=email, name=name)
        if advocate.status != Advocate.Status.ACTIVE:
            raise SystemExit(f"advocate {email} is {advocate.status}, expected active")
        return advocate_primary_link(advocate).code

    many = [code_for(MANY_EMAIL.format(i), f"Bench Advocate {i}") for i in range(count)]
    hot = code_for(HOT_EMAIL, "Bench Hot Advocate")
    return {"many": many, "hot": hot}


def count_queries(code: str) -> dict:
    """SQL statements of ``POST /api/v1/conversions``, cold and warm, through the test client."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from storefront import demo

    client = Client(
        HTTP_HOST=HOST,
        HTTP_AUTHORIZATION=f"Bearer {demo.DEMO_SECRET_KEY}",
        **PROXY_HEADERS,
    )
    tag = f"q{int(time.time())}.{os.getpid()}"
    requests = []
    for n in range(2):
        order_id = f"bench-{tag}-{n}"
        with CaptureQueriesContext(connection) as ctx:
            response = client.post(
                "/api/v1/conversions",
                data=json.dumps(conversion_body(order_id, code)),
                content_type="application/json",
            )
        if response.status_code != 201:
            raise SystemExit(
                f"POST /api/v1/conversions answered {response.status_code}:"
                f" {response.content[:500]!r}"
            )
        requests.append(
            {
                "order_id": order_id,
                "status": response.status_code,
                "count": len(ctx.captured_queries),
                "queries": [q["sql"] for q in ctx.captured_queries],
            }
        )
    return {"code": code, "cold": requests[0], "warm": requests[1]}


def print_queries(result: dict, *, show: bool) -> None:
    cold, warm = result["cold"], result["warm"]
    print(
        f"SQL queries in one POST /api/v1/conversions (test client, referral code"
        f" {result['code']}): {warm['count']} in a warm process"
        f" (first request of a fresh process: {cold['count']});"
        " not counted: the connection health check SELECT 1 when a request reuses a connection"
    )
    if show:
        for label, request in (("warm", warm), ("cold", cold)):
            print(f"-- {label}: order {request['order_id']}, {request['count']} statements")
            for n, sql in enumerate(request["queries"], 1):
                print(f"{n:3d}. {sql}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help=f"used when not started by bench/redirect.py [{DEFAULT_DATABASE_URL}]",
    )
    p.add_argument("--json", action="store_true", help="one BENCH_JSON line (for redirect.py)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup", help="enroll the benchmark advocates, print their codes")
    s.add_argument("--advocates", type=int, default=200, help="advocates for 'many' [200]")
    q = sub.add_parser("queries", help="count the SQL of one conversion request")
    q.add_argument("--code", help="referral code [the first benchmark advocate's]")
    q.add_argument("--show-queries", action="store_true", help="print the statements")
    args = p.parse_args(argv)

    if os.environ.get("DJANGO_SETTINGS_MODULE") != "bench.settings":
        env = bench_env(argparse.Namespace(database_url=args.database_url))
        os.environ.clear()
        os.environ.update(env)
    import django

    django.setup()

    if args.command == "setup":
        result = setup_advocates(args.advocates)
        if not args.json:
            print(f"{len(result['many'])} advocates, hot advocate {result['hot']}")
    else:
        code = args.code or setup_advocates(1)["many"][0]
        result = count_queries(code)
        if not args.json:
            print_queries(result, show=args.show_queries)
    if args.json:
        print("BENCH_JSON " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
