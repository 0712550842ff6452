"""Recruitment benchmark: bulk import against PostgreSQL COPY, invitations against a plain loop.

A benchmark, not a test. Run on PostgreSQL::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python -m bench.recruitment \\
        --customers 100000 --orders 300000 --invitations 100000

1. **Import**: customers through ``services.customers_upsert`` (the path of
   ``POST /api/v1/customers/bulk``: on PostgreSQL the 1,000 rows are COPYed
   into a staging table and upserted by one ``INSERT ... SELECT ... ON
   CONFLICT``, then linked and rescored) and backfilled orders through
   ``services.conversions_bulk_record`` (``POST /api/v1/conversions/bulk`` with
   backfill: staged the same way, one ``INSERT ... SELECT`` of the new orders
   and their audit rows, then rescoring), each against ``COPY`` of the same
   rows into a scratch copy of the same table, in the same run. Rows/s for
   each, per round (``--rounds``, each into a new program) and the median.
2. **Invitations**: a campaign to N customers sent by the real fan-out
   (``campaign_batch_send``: claim, send, record per recipient, batches of 200
   over one SMTP session) to a local SMTP sink (aiosmtpd), against a plain
   loop sending the same messages over one SMTP session with no database.
   Counts the messages at the sink and checks that no address got two.

It creates programs of its own (``bench-recruitment-<time>``) and leaves their rows.
"""

import argparse
import logging
import os
import socket
import statistics
import time
from collections import Counter
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from aiosmtpd.controller import Controller  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.mail import EmailMultiAlternatives, get_connection  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from recruitment import campaigns, services  # noqa: E402
from recruitment.models import Campaign, Customer, RecruitmentSettings  # noqa: E402
from rewards.services import program_create_with_offer  # noqa: E402

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command


class Sink:
    def __init__(self):
        self.to = []

    async def handle_DATA(self, server, session, envelope):
        self.to.extend(envelope.rcpt_tos)
        return "250 OK"


def rate(n, seconds):
    return f"{n:>8} rows in {seconds:7.1f} s = {n / seconds:9.0f}/s"


def copy_rows(table: str, columns: list[str], rows: list[tuple]) -> float:
    """COPY the rows into a scratch copy of ``table``; returns the seconds it took."""
    scratch = f"bench_{table}"
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {scratch}")
        # Same columns, indexes and checks as the real table (foreign keys aside).
        like = "INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES INCLUDING CONSTRAINTS"
        cur.execute(f"CREATE TABLE {scratch} (LIKE {table} {like})")
        started = time.monotonic()
        with cur.copy(f"COPY {scratch} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        seconds = time.monotonic() - started
        cur.execute(f"DROP TABLE {scratch}")
    return seconds


def bench_import(program, n_customers: int, n_orders: int) -> dict[str, float]:
    """One round: seconds of ours and of COPY for customers, then for orders."""
    now = timezone.now()
    rows = [
        (i, {"external_id": f"b-{i}", "email": f"b{i}@example.com", "name": f"B {i}",
             "marketing_consent": True, "reviews": i % 4})
        for i in range(n_customers)
    ]  # fmt: skip
    started = time.monotonic()
    for start in range(0, n_customers, 1000):
        services.customers_upsert(program=program, rows=rows[start : start + 1000])
    out = {"customers": time.monotonic() - started}
    out["customers COPY"] = copy_rows(
        "recruitment_customer",
        ["program_id", "external_id", "email", "email_normalized", "name", "marketing_consent",
         "reviews", "locale", "social_engagement", "attributes", "score_reasons", "score_model",
         "order_count", "revenue_minor", "nps_category", "undeliverable_reason", "created_at",
         "updated_at"],
        [(program.pk, r["external_id"], r["email"], r["email"], r["name"], True, r["reviews"], "",
          0, "{}", "[]", "", 0, 0, "", "", now, now) for _, r in rows],
    )  # fmt: skip
    print(f"customers  upsert: {rate(n_customers, out['customers'])}")
    ratio = out["customers"] / out["customers COPY"]
    print(f"customers  COPY  : {rate(n_customers, out['customers COPY'])}   ratio {ratio:.1f}x")

    orders = [
        (i, {"order_id": f"bo-{i}", "amount_minor": 1000 + i % 5000, "currency": "EUR",
             "fingerprint": f"bo-{i}", "customer_external_id": f"b-{i % n_customers}",
             "customer_email": "", "occurred_at": now - timedelta(days=i % 700)})
        for i in range(n_orders)
    ]  # fmt: skip
    started = time.monotonic()
    for start in range(0, n_orders, 1000):
        services.conversions_bulk_record(
            program=program, rows=orders[start : start + 1000], backfill=True
        )
    out["orders"] = time.monotonic() - started
    out["orders COPY"] = copy_rows(
        "referrals_conversion",
        ["program_id", "order_id", "amount_minor", "currency", "refunded_minor",
         "customer_email", "customer_email_normalized", "customer_external_id", "attributed",
         "attribution_method", "attribution_reason", "status", "source", "backfill",
         "stripe_payment_intent", "payment_fingerprint", "request_fingerprint", "occurred_at",
         "created_at"],
        [(program.pk, o["order_id"], o["amount_minor"], "EUR", 0, "", "",
          o["customer_external_id"], False, "none", "history (backfill)", "completed", "api",
          True, "", "", o["fingerprint"], o["occurred_at"], now) for _, o in orders],
    )  # fmt: skip
    print(f"orders     backfill: {rate(n_orders, out['orders'])}")
    ratio = out["orders"] / out["orders COPY"]
    print(f"orders     COPY    : {rate(n_orders, out['orders COPY'])}   ratio {ratio:.1f}x")
    return out


def bench_import_rounds(rounds: int, n_customers: int, n_orders: int) -> None:
    """``rounds`` rounds, each into a program of its own; the median rows/s and ratio."""
    results = []
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}; load average {os.getloadavg()[0]:.1f}")
        results.append(bench_import(new_program(), n_customers, n_orders))
    for what, n in (("customers", n_customers), ("orders", n_orders)):
        ours = statistics.median(n / x[what] for x in results)
        copy = statistics.median(n / x[f"{what} COPY"] for x in results)
        ratio = statistics.median(x[what] / x[f"{what} COPY"] for x in results)
        print(
            f"median of {rounds}: {what:<9} ours {ours:9.0f}/s   COPY {copy:9.0f}/s   "
            f"ratio {ratio:.1f}x"
        )


def new_program():
    program, _, _ = program_create_with_offer(
        name=f"bench-recruitment-{time.time():.3f}", landing_url="https://shop.example.com/"
    )
    RecruitmentSettings.objects.create(program=program, send_rate_per_minute=10_000_000)
    return program


def bench_invitations(program, n: int, port: int = 0) -> None:
    sink = Sink()
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    smtp = Controller(sink, hostname="127.0.0.1", port=port)
    smtp.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        Customer.objects.bulk_create(
            [Customer(program=program, external_id=f"i-{i}", email=f"i{i}@example.com",
                      email_normalized=f"i{i}@example.com", marketing_consent=True)
             for i in range(n)],
            batch_size=5000,
        )  # fmt: skip
        campaign = campaigns.campaign_create(
            program=program,
            name="bench",
            customers=Customer.objects.filter(external_id__startswith="i-"),
            send_at=timezone.now() + timedelta(days=365),
        )
        Campaign.objects.filter(pk=campaign.pk).update(step=1, status="sending")
        started = time.monotonic()
        after = 0
        while nxt := campaigns.campaign_batch_send(campaign_id=campaign.pk, step=1, after_pk=after):
            after, wait = nxt
            if wait:
                time.sleep(wait)
        ours = time.monotonic() - started
        time.sleep(1)
        ours_sent = len(sink.to)
        doubled = [a for a, c in Counter(sink.to).items() if c > 1]

        sink.to.clear()
        started = time.monotonic()
        with get_connection() as conn:
            for i in range(n):
                message = EmailMultiAlternatives(
                    "You're invited", "Join here: https://example.com/join\n",
                    settings.DEFAULT_FROM_EMAIL, [f"i{i}@example.com"], connection=conn,
                )  # fmt: skip
                message.attach_alternative("<p>Join here</p>", "text/html")
                message.send()
        plain = time.monotonic() - started
        time.sleep(1)
        print(f"invitations campaign: {rate(ours_sent, ours)}   doubled: {len(doubled)}")
        print(f"invitations plain   : {rate(len(sink.to), plain)}   ratio {ours / plain:.1f}x")
    finally:
        smtp.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--invitations", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="import rounds (median)")
    parser.add_argument("--smtp-port", type=int, default=0, help="the sink's port (0: any free)")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Run it on PostgreSQL (DATABASE_URL=postgres://...).")
    call_command("migrate", verbosity=0)  # a new database works as it is
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.customers and args.orders:
        bench_import_rounds(args.rounds, args.customers, args.orders)
    if args.invitations:
        program = new_program()
        print(f"program {program.slug}; load average {os.getloadavg()[0]:.1f}")
        bench_invitations(program, args.invitations, args.smtp_port)


if __name__ == "__main__":
    main()
