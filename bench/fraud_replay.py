"""Replay a mixed stream of referrals and orders through the fraud engine; report precision
and recall at its default settings.

    .venv/bin/python bench/fraud_replay.py [--events 10000] [--seed 7]

The stream (ground truth known) runs through the same services the API calls, on a
fresh SQLite database of its own, with time simulated over 60 days:
- honest friends: their own address and browser, their own name and email; most buy;
- self-referrals: the advocate's email in another spelling (Gmail dots, +tags, case),
  or the advocate's full name with another email;
- velocity bursts: one address and browser signing up many "friends" within minutes;
- disposable emails: friends at domains from the disposable-email-domains list.
A referral counts as caught when its sign-up or its order is flagged or blocked.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST = [
    "Ana",
    "Bjørn",
    "Chen",
    "Dana",
    "Erik",
    "Fatima",
    "Gheorghe",
    "Hana",
    "Ivan",
    "Jonas",
    "Karin",
    "Liu",
    "Maria",
    "Nils",
    "Olga",
]
LAST = [
    "Berg",
    "Chen",
    "Dahl",
    "Enescu",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ionescu",
    "Johansson",
    "Larsen",
    "Popescu",
    "Wang",
]
AGENTS = [f"Mozilla/5.0 (device {n}) AppleWebKit/537.36 Chrome/{120 + n % 20}" for n in range(400)]


def setup_django(database: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{database}",
        CLICK_FLUSH_MS="0",
        CLICK_SPOOL_DIR=str(database.parent / "clicks"),
        CACHE_URL="locmemcache://",
        LOG_LEVEL="WARNING",
    )
    for name in ("CELERY_BROKER_URL", "EMAIL_URL", "STRIPE_API_KEY"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def person(rng: random.Random) -> tuple[str, str]:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    handle = name.lower().replace(" ", ".").replace("ø", "o") + str(rng.randrange(10**6))
    return name, handle


def build_stream(rng: random.Random, advocates: list, events: int) -> list[dict]:
    """Sign-ups (each possibly followed by an order) until ``events`` events, in time order."""
    from disposable_email_domains import blocklist

    disposable = sorted(blocklist)[:500]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    stream, n = [], 0
    while len(stream) < events:
        n += 1
        advocate = rng.choice(advocates)
        at = start + timedelta(minutes=rng.randrange(60 * 24 * 60))
        roll = rng.random()
        if roll < 0.80:
            kind = "honest"
        elif roll < 0.86:
            kind = "self_email"
        elif roll < 0.91:
            kind = "self_name"
        elif roll < 0.96:
            kind = "disposable"
        else:
            kind = "burst"
        friends = 8 if kind == "burst" else 1
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
        agent = rng.choice(AGENTS)
        for i in range(friends):
            name, handle = person(rng)
            email = f"{handle}@{rng.choice(['gmail.com', 'outlook.com', 'yahoo.no', 'mail.ro'])}"
            if kind == "self_email":
                local, _, domain = advocate["email"].partition("@")
                email = f"{local.replace('.', '')}+{handle[:5]}@{domain}".upper()
            elif kind == "self_name":
                name = advocate["name"]
            elif kind == "disposable":
                email = f"{handle}@{rng.choice(disposable)}"
            if kind != "burst":
                ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
                agent = rng.choice(AGENTS)
            when = at + timedelta(minutes=2 * i)
            ref = {"n": f"{n}-{i}", "kind": kind, "fraud": kind != "honest",
                   "advocate": advocate, "email": email, "name": name, "ip": ip,
                   "agent": agent, "at": when}  # fmt: skip
            stream.append({"type": "signup", **ref})
            buys = rng.random() < (0.6 if kind == "honest" else 0.8)
            if buys:
                stream.append(
                    {"type": "order", **ref, "at": when + timedelta(hours=rng.randrange(1, 72))}
                )
    stream = stream[:events]
    stream.sort(key=lambda event: event["at"])
    return stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--advocates", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fraud-replay-"))
    setup_django(workdir / "replay.sqlite3")

    import time_machine

    from advocacy.services import advocate_enroll
    from fraud.models import Assessment
    from referrals.models import Referral
    from referrals.services import click_record
    from rewards import flows
    from rewards.services import program_create_with_offer

    rng = random.Random(args.seed)
    with time_machine.travel(datetime(2025, 12, 1, tzinfo=UTC), tick=False):
        program, _, _ = program_create_with_offer(
            name="Replay", landing_url="https://shop.example.com/", currency="EUR",
            advocate_reward_minor=1000, friend_discount_percent=10, hold_days=14,
            attribution_window_days=30,
        )  # fmt: skip
        advocates = []
        for i in range(args.advocates):
            name, handle = person(rng)
            advocate, _ = advocate_enroll(
                program=program, email=f"{handle}.a{i}@gmail.com", name=name
            )
            link = advocate.links.get()
            advocates.append(
                {"id": advocate.pk, "email": advocate.email, "name": name, "link": link}
            )

    stream = build_stream(rng, advocates, args.events)
    referral_of: dict[str, int] = {}
    truth: dict[int, dict] = {}
    started = time.monotonic()
    for done, event in enumerate(stream, 1):
        with time_machine.travel(event["at"], tick=False):
            if event["type"] == "signup":
                click_id = click_record(
                    link=event["advocate"]["link"], user_agent=event["agent"], ip=event["ip"]
                )
                referral, _ = flows.referral_create(
                    program=program,
                    friend_email=event["email"],
                    friend_name=event["name"],
                    click_id=click_id,
                )
                referral_of[event["n"]] = referral.pk
                truth[referral.pk] = event
            elif event["n"] in referral_of:
                flows.conversion_record(
                    program=program,
                    order_id=f"O-{event['n']}",
                    amount_minor=rng.randrange(2000, 20000),
                    currency="EUR",
                    fingerprint=event["n"],
                    customer_email=event["email"],
                    referral_code=event["advocate"]["link"].code,
                )
        if done % 1000 == 0:
            print(
                f"  {done}/{len(stream)} events, {time.monotonic() - started:.0f} s",
                file=sys.stderr,
            )

    caught = set(
        Assessment.objects.exclude(decision=Assessment.Decision.ALLOW).values_list(
            "referral_id", flat=True
        )
    )
    # Referrals the referral layer itself refused (self-referral by email) earn nothing either.
    refused = set(
        Referral.objects.filter(status=Referral.Status.REJECTED).values_list("pk", flat=True)
    )
    flagged = caught | refused
    tp = sum(1 for pk, e in truth.items() if e["fraud"] and pk in flagged)
    fp = sum(1 for pk, e in truth.items() if not e["fraud"] and pk in flagged)
    fn = sum(1 for pk, e in truth.items() if e["fraud"] and pk not in flagged)
    per_kind = {}
    for pk, e in truth.items():
        row = per_kind.setdefault(e["kind"], {"referrals": 0, "flagged_or_blocked": 0})
        row["referrals"] += 1
        row["flagged_or_blocked"] += pk in flagged
    result = {
        "events": len(stream),
        "referrals": len(truth),
        "orders": sum(1 for e in stream if e["type"] == "order"),
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "per_kind": per_kind,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
