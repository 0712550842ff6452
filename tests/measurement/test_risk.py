from datetime import UTC, date, datetime, timedelta

from measurement.risk import at_risk_customers, at_risk_list, fading_advocates
from tests.factories import enroll

from . import factories as f

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def days_ago(n):
    return NOW - timedelta(days=n)


def test_a_customer_well_past_their_usual_interval_is_at_risk(program):
    # Monthly buyer, last order 70 days ago: usual 30 days, 70 > 2 x 30 -> at risk (2.33).
    for i, ago in enumerate((130, 100, 70)):
        f.backfilled_order(program, f"m{i}", 1000, days_ago(ago), external_id="monthly")
    # Monthly buyer who bought 20 days ago: fine.
    for i, ago in enumerate((80, 50, 20)):
        f.backfilled_order(program, f"r{i}", 1000, days_ago(ago), external_id="regular")
    # One order 100 days ago; the program's median first gap is 30 days -> at risk (3.33).
    f.backfilled_order(program, "o1", 1000, days_ago(100), external_id="once")
    # Churned (past the 365-day window): not at risk any more, gone.
    f.backfilled_order(program, "g1", 1000, days_ago(400), external_id="gone")
    f.backfilled_order(program, "g2", 1000, days_ago(380), external_id="gone")
    risky = at_risk_customers(program=program, now=NOW)
    assert [(c.key, c.usual_interval_days, c.overdue) for c in risky] == [
        ("once", 30.0, 3.33),
        ("monthly", 30.0, 2.33),
    ]


def test_the_first_rows_of_the_list_and_its_count(program):
    """The page lists the first ten and the count: the same as cutting the whole list,
    ties in overdue broken by key even where the cut falls among them."""
    for i, ago in enumerate((130, 100, 70)):
        f.backfilled_order(program, f"m{i}", 1000, days_ago(ago), external_id="monthly")
    for key, ago in (("e", 100), ("d", 100), ("c", 100), ("b", 90), ("a", 61), ("z", 40)):
        f.backfilled_order(program, f"o-{key}", 1000, days_ago(ago), external_id=key)
    full = at_risk_customers(program=program, now=NOW)
    assert [(c.key, c.overdue) for c in full] == [
        ("c", 3.33), ("d", 3.33), ("e", 3.33), ("b", 3.0), ("monthly", 2.33), ("a", 2.03)
    ]  # fmt: skip
    for limit in range(1, len(full) + 2):
        assert at_risk_list(program=program, now=NOW, limit=limit) == (len(full), full[:limit])


def test_an_advocate_whose_activity_faded_is_listed(program):
    today = date(2026, 6, 1)
    busy = enroll(program, "busy@example.com")
    faded = enroll(program, "faded@example.com")
    for n in range(6):  # 6 clicks in the 90 days before the last 30 (2 a month)
        f.click(faded.links.get(), datetime(2026, 3, 1 + n, tzinfo=UTC))
        f.click(busy.links.get(), datetime(2026, 3, 1 + n, tzinfo=UTC))
    for n in range(2):  # busy keeps going in May, faded does not
        f.click(busy.links.get(), datetime(2026, 5, 10 + n, tzinfo=UTC))
    listed = fading_advocates(program=program, today=today)
    assert [(a.email, a.recent, a.usual) for a in listed] == [("faded@example.com", 0, 2.0)]
