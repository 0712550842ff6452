"""Rollups equal a raw recount, whatever the order, duplicates and lateness of events."""

import gc
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advocacy.models import Advocate
from core.hashing import fingerprint
from measurement import customers, daily, placements, risk, selectors, services
from measurement.models import (
    CustomerDayRollup,
    DailyRollup,
    NpsDayRollup,
    ProgramDayRollup,
    ReferralRollup,
    RollupMark,
)
from nurture import models as nurture
from recruitment.models import Customer
from referrals.models import Click, Conversion, Referral
from rewards import flows
from rewards.services import program_create_with_offer
from storefront.models import PlacementEvent
from storefront.selectors import placement_funnel
from tests.factories import enroll

from . import factories as f

BASE = date(2026, 3, 1)
programs = count()

event = st.one_of(
    st.tuples(
        st.just("click"), st.integers(0, 9), st.integers(0, 2), st.sampled_from(["", "email", "x"])
    ),
    st.tuples(st.just("refer"), st.integers(0, 9), st.integers(0, 5), st.integers(0, 2)),
    # a purchase reported ``lag`` days after it happened (late), by friend ``who``
    st.tuples(st.just("buy"), st.integers(0, 9), st.integers(0, 5), st.integers(0, 3)),
    st.tuples(st.just("again"), st.integers(0, 9), st.integers(0, 5), st.integers(0, 3)),
    st.tuples(st.just("refund"), st.integers(0, 9), st.integers(0, 5), st.booleans()),
    # an NPS answer of friend ``who`` given ``lag`` days before it is recorded
    st.tuples(st.just("nps"), st.integers(0, 9), st.integers(0, 5), st.integers(0, 3)),
    st.tuples(st.just("rebuild"), st.integers(0, 9), st.just(0), st.just(0)),
    # an impression or share seen ``lag`` days before it is recorded (late), by viewer ``who``
    st.tuples(st.just("show"), st.integers(0, 9), st.integers(0, 5), st.integers(0, 3)),
    # a review (``who`` even) or testimonial made ``lag`` days ago, approved now
    st.tuples(st.just("ugc"), st.integers(0, 9), st.integers(0, 5), st.integers(0, 3)),
    # an advocate who stops (paused): the journey's advocates drop, K-factor's stay
    st.tuples(st.just("pause"), st.integers(0, 9), st.integers(0, 2), st.just(0)),
)


def at(offset: int, hour: int = 12) -> datetime:
    return datetime.combine(
        BASE + timedelta(days=offset), datetime.min.time(), tzinfo=UTC
    ) + timedelta(hours=hour)


def rollup_rows(program):
    out = {}
    for r in DailyRollup.objects.filter(program=program).values():
        key = (r["day"], r["advocate_id"], r["channel"], r["link_id"])
        assert key not in out, f"two rollup rows for {key}"
        out[key] = {f: r[f] for f in daily.FIELDS}
    return out


def beat(day: int) -> None:
    """What beat does during a day: the hourly sweep (yesterday and the day before)
    and the refresh of the marked days."""
    with time_machine.travel(at(day, 23), tick=False):
        services.rollups_sweep(days=2)
        services.rollups_refresh()


def play(program, links, stream):
    """Events arrive in time order (their day); lateness is in what they are about:
    orders reported days after they happened, refunds and duplicates of old orders."""
    orders: dict[int, list[str]] = {}
    today = 0
    for n, (kind, day, who, extra) in enumerate(sorted(stream, key=lambda e: e[1])):
        while today < day:
            beat(today)
            today += 1
        now = at(day, 8 + n % 12)
        with time_machine.travel(now, tick=False):
            if kind == "click":
                f.click(links[who], now, extra)
            elif kind == "refer":
                flows.referral_create(
                    program=program,
                    referral_code=links[extra].code,
                    friend_email=f"friend{who}@example.com",
                )
            elif kind in ("buy", "again"):
                # "again" repeats the friend's last order id: a duplicate delivery.
                mine = orders.setdefault(who, [])
                if kind == "again" and mine:
                    order_id = mine[-1]
                else:
                    order_id = f"o{who}-{len(mine)}"
                    mine.append(order_id)
                flows.conversion_record(
                    program=program,
                    order_id=order_id,
                    amount_minor=1000 + 500 * who,
                    currency="EUR" if who != 5 else "USD",
                    fingerprint=fingerprint({"o": order_id}),
                    customer_email=f"friend{who}@example.com",
                    referral_code=links[who % 3].code,
                    occurred_at=now - timedelta(days=extra),
                )
            elif kind == "refund" and orders.get(who):
                conversion = program.conversions.get(order_id=orders[who][0])
                left = conversion.amount_minor - conversion.refunded_minor
                if left:
                    flows.conversion_refund(
                        program=program,
                        order_id=conversion.order_id,
                        amount_minor=None if extra else min(left, 300),
                    )
            elif kind == "nps":
                f.nps(program, (who * 7 + extra) % 11, now - timedelta(days=extra),
                      email=f"friend{who}@example.com")  # fmt: skip
            elif kind == "rebuild":
                services.rollups_refresh()
            elif kind == "show":
                PlacementEvent.objects.create(
                    program=program,
                    kind="share" if extra % 2 else "impression",
                    placement=["widget", "portal"][who % 2],
                    viewer=f"v{who}",
                    created_at=now - timedelta(days=extra),
                )
            elif kind == "ugc":
                made = now - timedelta(days=extra)
                if who % 2:
                    item = nurture.Testimonial.objects.create(
                        program=program,
                        advocate=links[0].advocate,
                        text="Good",
                        rating=5,
                        created_at=made,
                    )
                else:
                    challenge = nurture.Challenge.objects.create(
                        program=program, kind=["review", "share"][extra % 2], title=f"Tell {n}"
                    )
                    item = nurture.ChallengeSubmission.objects.create(
                        challenge=challenge, advocate=links[0].advocate, created_at=made
                    )
                item.status = nurture.Moderation.APPROVED
                item.save()
            elif kind == "pause":
                advocate = links[who].advocate
                advocate.status = "paused"
                advocate.save()
    while today <= 12:
        beat(today)
        today += 1


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=st.lists(event, max_size=18))
def test_rollups_equal_a_raw_recount(stream):
    program, _, _ = program_create_with_offer(
        name=f"Shop {next(programs)}",
        landing_url="https://shop.example.com/",
        currency="EUR",
        advocate_reward_minor=1000,
        friend_discount_percent=10,
    )
    with time_machine.travel(at(0, 1), tick=False):
        links = [enroll(program, f"adv{i}@example.com").links.get() for i in range(3)]
    play(program, links, stream)

    assert not RollupMark.objects.filter(
        program=program, day__lt=BASE + timedelta(days=12)
    ).exists()
    raw = {
        k: v
        for k, v in daily.raw_day_rows(
            program, BASE - timedelta(days=5), BASE + timedelta(days=12)
        ).items()
        if any(v.values())
    }
    assert rollup_rows(program) == raw
    # And the readers give the same numbers from the rollups as from the raw rows.
    lo, hi = BASE - timedelta(days=5), BASE + timedelta(days=12)
    # Read on the last day (every day finished) and on days with events of their own,
    # which are then live, counted raw and summed to the finished days' rollups.
    for now in (at(12), at(9), at(4)):
        with time_machine.travel(now, tick=False):
            assert daily.totals(daily.day_rows(program, lo, hi)) == daily.totals(raw)
            assert daily.summary(program, lo, hi) == daily.summary(program, lo, hi, source="raw")
            for by in ("day", "advocate", "channel", "link"):
                assert daily.grouped(program, lo, hi, by) == daily.grouped(
                    program, lo, hi, by, source="raw"
                )
            # Within a request the live days are read once and summed to each grain.
            with daily.memoized():
                assert daily.summary(program, lo, hi) == daily.summary(
                    program, lo, hi, source="raw"
                )
                for by in ("day", "advocate", "channel"):
                    assert daily.grouped(program, lo, hi, by) == daily.grouped(
                        program, lo, hi, by, source="raw"
                    )
            # The top advocates: the kept ranking of the finished days, with the advocates
            # active on the live day summed again, rank as a recount does.
            per = daily.grouped(program, lo, hi, "advocate", source="raw")
            counted = ("clicks", "referrals", "purchases")
            shown = [k for k, v in per.items() if k and any(v[f] for f in counted)]
            expected = sorted(
                shown,
                key=lambda k: (
                    -per[k]["revenue_minor"],
                    -per[k]["purchases"],
                    -per[k]["clicks"],
                    k,
                ),
            )
            period = selectors.Period(lo, hi - timedelta(days=1))
            for limit in (1, 2, 3):
                top = selectors.top_advocates(program, period, limit)
                assert [(a["advocate_id"], a["clicks"], a["purchases"]) for a in top] == [
                    (k, per[k]["clicks"], per[k]["purchases"]) for k in expected[:limit]
                ]
    # The customer and NPS day rollups equal a recount of the orders and answers ...
    assert {
        (r.day, r.key): (r.orders, r.net_minor, r.first)
        for r in CustomerDayRollup.objects.filter(program=program)
    } == customers.raw_customer_days(program, lo, hi)
    assert {
        (r.day, r.key): (r.alt_key, r.category, r.last)
        for r in NpsDayRollup.objects.filter(program=program)
    } == customers.raw_nps_days(program, lo, hi)
    # ... the day totals equal the day rows summed, plus the day counts of their own ...
    for r in ProgramDayRollup.objects.filter(program=program):
        rows = {k: v for k, v in raw.items() if k[0] == r.day}
        extras = daily.raw_day_extras(program, r.day, r.day + timedelta(days=1)).get(r.day, {})
        assert {f: getattr(r, f) for f in (*daily.FIELDS, *daily.EXTRAS)} == {
            **daily.totals(rows),
            **dict.fromkeys(daily.EXTRAS, 0),
            **extras,
        }
    # ... each referral's outcome equals a recount of its orders and its friend's ...
    assert {
        r.referral_id: (r.key, r.converted_on, r.bought_on)
        for r in ReferralRollup.objects.filter(program=program)
    } == referral_outcomes(program)
    # ... the placement rows equal a recount of the events, clicks and orders ...
    with time_machine.travel(at(12), tick=False):
        for first, last in ((0, 5), (3, 12), (11, 12)):
            lo_day, hi_day = BASE + timedelta(days=first), BASE + timedelta(days=last)
            expected = placement_funnel(
                program=program,
                since=daily.day_start(lo_day),
                until=daily.day_start(hi_day + timedelta(days=1)),
            )
            assert placements.funnel(program, lo_day, hi_day) == expected
    # ... and every metric read from the rollups equals the raw recount, for periods
    # ending on finished days and on the live ones.
    program.churn_after_days = 4
    program.save(update_fields=["churn_after_days"])
    with time_machine.travel(at(12), tick=False):
        for first, last in ((0, 5), (3, 9), (6, 12), (11, 12)):
            period = {
                "date_from": BASE + timedelta(days=first),
                "date_to": BASE + timedelta(days=last),
            }
            assert selectors.program_metrics(program=program, **period) == (
                selectors.program_metrics(program=program, source="raw", **period)
            )


def referral_outcomes(program):
    """Each referral's (friend key, first attributed counted order's day, first day the
    friend's customer key has a counted order in the program's currency), counted raw."""
    orders = Conversion.objects.filter(program=program).order_by("occurred_at", "pk")
    converted, bought = {}, {}
    for o in orders:
        if o.refunded_minor >= o.amount_minor:
            continue
        day = o.occurred_at.astimezone(UTC).date()
        if o.attributed and o.referral_id:
            converted.setdefault(o.referral_id, day)
        key = o.customer_external_id or o.customer_email_normalized
        if key and o.currency == program.currency:
            bought.setdefault(key, day)
    out = {}
    for r in Referral.objects.filter(program=program):
        key = r.friend_external_id or r.friend_email_normalized or ""
        if r.friend_external_id == "":
            key = ""
        out[r.pk] = (key, converted.get(r.pk), bought.get(key))
    return out


def test_a_rebuild_twice_changes_nothing(program, advocate):
    f.click(advocate.links.get(), at(1), "email")
    services.rollups_refresh()
    first = rollup_rows(program)
    services.rollup_day_rebuild(program=program, day=BASE + timedelta(days=1))
    services.rollup_day_rebuild(program=program, day=BASE + timedelta(days=1))
    assert rollup_rows(program) == first
    assert sum(v["clicks"] for v in first.values()) == 1


def test_a_rebuild_drops_the_workers_reads_only_when_a_row_changed(program, advocate):
    """The hourly sweep rebuilds yesterday and the day before whether or not anything
    arrived: an unchanged rebuild leaves the workers' kept reads (the program's rollup
    version) alone, a change to any rollup of the day drops them."""
    f.backfilled_order(program, "o-1", 5000, at(1), external_id="ann")
    f.click(advocate.links.get(), at(1), "email")
    day = BASE + timedelta(days=2)
    services.rollups_rebuild(program=program, start=BASE, end=BASE + timedelta(days=10))

    def version_changed_by(change) -> bool:
        before = daily._version(program)
        assert before is not None
        change()
        RollupMark.objects.filter(program=program).delete()  # the sweep's rebuild only
        services.rollups_rebuild(program=program, start=day, end=day + timedelta(days=1))
        return daily._version(program) != before

    assert not version_changed_by(lambda: None)
    assert version_changed_by(lambda: f.click(advocate.links.get(), at(2), "sms"))
    assert not version_changed_by(lambda: None)
    # An order with no customer key, backfilled (no funnel purchase): no rollup holds it.
    assert not version_changed_by(lambda: f.backfilled_order(program, "o-2", 700, at(2)))
    assert version_changed_by(
        lambda: f.backfilled_order(program, "o-3", 700, at(2), external_id="bob")
    )
    assert version_changed_by(lambda: f.nps(program, 9, at(2), external_id="ann"))
    assert version_changed_by(
        lambda: PlacementEvent.objects.create(
            program=program, kind="impression", placement="widget", viewer="v1", created_at=at(2)
        )
    )
    with time_machine.travel(at(2), tick=False):
        flows.referral_create(
            program=program,
            referral_code=advocate.links.get().code,
            friend_email="friend@example.com",
        )
    assert version_changed_by(lambda: None)  # the referral's own rebuild
    # Only the friend's key (the journey's match) changes: the referral rows alone.
    assert version_changed_by(
        lambda: Referral.objects.filter(program=program).update(
            friend_email_normalized="other@example.com"
        )
    )
    assert not version_changed_by(lambda: None)
    # Rebuilt and kept: the reads see every change.
    assert selectors.program_metrics(
        program=program, date_from=BASE, date_to=BASE + timedelta(days=9)
    ) == selectors.program_metrics(
        program=program, date_from=BASE, date_to=BASE + timedelta(days=9), source="raw"
    )


def test_a_mark_made_during_a_rebuild_survives_it(program, advocate):
    f.click(advocate.links.get(), at(1), "email")
    seen = RollupMark.objects.filter(program=program).latest("pk").pk
    f.click(advocate.links.get(), at(1), "email")  # arrives after the refresh looked
    services.rollup_day_rebuild(program=program, day=BASE + timedelta(days=1))
    RollupMark.objects.filter(program=program, pk__lte=seen).delete()
    assert RollupMark.objects.filter(program=program, day=BASE + timedelta(days=1)).exists()


def test_the_sweep_catches_clicks_written_in_bulk(program, advocate):
    from referrals.models import Click

    yesterday = datetime.now(UTC) - timedelta(days=1)
    link = advocate.links.get()
    Click.objects.bulk_create(
        [Click(program=program, link=link, advocate=advocate, created_at=yesterday)]
    )
    RollupMark.objects.all().delete()
    services.rollups_sweep(days=2)
    services.rollups_refresh()
    rows = DailyRollup.objects.filter(program=program, day=yesterday.date())
    assert sum(r.clicks for r in rows) == 1


def test_a_rebuild_after_a_late_order_renews_what_the_worker_kept(program, monkeypatch):
    """Finished days are read once per process and kept under the program's rollup
    version: a late order marks its day (read raw meanwhile) and the rebuild that
    clears the mark replaces the version, so the next read sees the order."""
    f.backfilled_order(program, "o-1", 5000, at(1), external_id="ann")
    f.backfilled_order(program, "o-2", 7000, at(2), external_id="ann")
    f.backfilled_order(program, "o-3", 3000, at(2), external_id="bob")
    services.rollups_rebuild(program=program, start=BASE, end=BASE + timedelta(days=10))
    period = {"date_from": BASE, "date_to": BASE + timedelta(days=9)}
    now = datetime.combine(BASE + timedelta(days=12), datetime.min.time(), tzinfo=UTC)

    def read():
        with daily.memoized():
            answer = selectors.program_metrics(program=program, **period)
            full = risk.at_risk_customers(program=program, now=now)
            for limit in range(1, len(full) + 2):  # the page's list: the same, cut short
                listed = risk.at_risk_list(program=program, now=now, limit=limit)
                assert listed == (len(full), full[:limit])
            return (
                answer["customers"]["new"],
                answer["clv"]["non_referred"],
                answer["repeat_purchase_rate"],
                daily.day_totals(program, BASE, BASE + timedelta(days=10))["excluded_orders"],
                [c.key for c in risk.at_risk_customers(program=program, now=now)],
            )

    before = read()
    assert before == (2, "75.00", 50.0, 0, ["ann", "bob"])
    assert read() == before  # served from what the worker kept
    assert any(key[0] == program.pk for key in daily._finished)

    # A late order of a new customer, and one in another currency, on a finished day.
    f.backfilled_order(program, "o-4", 2000, at(3), external_id="cy")
    f.backfilled_order(program, "o-5", 2000, at(3), external_id="cy", currency="USD")
    assert RollupMark.objects.filter(program=program, day=BASE + timedelta(days=3)).exists()
    late = (3, "56.67", 33.3, 1, ["ann", "bob", "cy"])
    assert read() == late  # the marked day is counted raw until it is rebuilt
    services.rollups_refresh()
    assert not RollupMark.objects.filter(program=program).exists()
    assert read() == late  # rebuilt: the new version, the kept reads of before are gone
    assert selectors.program_metrics(program=program, **period) == selectors.program_metrics(
        program=program, source="raw", **period
    )

    # Without the version change the worker would serve the day's old rows: the check
    # above is what tells a missing invalidation.
    monkeypatch.setattr(daily, "rollups_changed", lambda program: None)
    f.backfilled_order(program, "o-6", 4000, at(4), external_id="dee")
    services.rollups_refresh()
    assert read() == late


def test_large_fills_are_kept_out_of_the_garbage_collectors_walks(program, monkeypatch):
    """What a large program's finished days hold is frozen once the request that read
    it ends (``gc.freeze``), so full collections stop walking it; the previous freeze is
    given back and collected first, so dropped entries' cycles are reclaimed."""
    f.backfilled_order(program, "o-1", 5000, at(1), external_id="ann")
    f.backfilled_order(program, "o-2", 7000, at(2), external_id="bob")
    services.rollups_rebuild(program=program, start=BASE, end=BASE + timedelta(days=10))
    period = {"date_from": BASE, "date_to": BASE + timedelta(days=9)}
    gc.unfreeze()
    try:
        with daily.memoized():
            selectors.program_metrics(program=program, **period)
            assert gc.get_freeze_count() == 0  # nothing large enough: nothing frozen
        monkeypatch.setattr(daily, "FREEZE_AT", 2)  # two customers are "large" now
        daily.rollups_changed(program)  # read again
        with daily.memoized():
            selectors.program_metrics(program=program, **period)
            assert gc.get_freeze_count() == 0  # not mid-request
        frozen = gc.get_freeze_count()
        assert frozen > 0
        kept = next(
            v
            for k, v in reversed(daily._finished.items())
            if k[0] == program.pk and k[2][0] == "customers"
        )
        assert gc.is_tracked(kept)  # a dict of objects: tracked, but no longer walked
        assert all(o is not kept for o in gc.get_objects())

        # Outside a request's block, a large fill freezes at once.
        daily.rollups_changed(program)
        customers.customer_aggs(program, BASE, BASE + timedelta(days=10))
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_kept_advocate_keys_follow_every_change(require_postgres, program):
    """The advocate keys are kept by the process under a checksum of what they are read
    from: a status changed with ``update()`` (no signal, no mark) and a customer linked
    by a bulk import still show in the next request's keys and advocate numbers."""
    f.backfilled_order(program, "o-1", 5000, at(1), external_id="ann")
    f.backfilled_order(program, "o-2", 7000, at(2), external_id="bob")
    services.rollups_rebuild(program=program, start=BASE, end=BASE + timedelta(days=10))
    period = {"date_from": BASE, "date_to": BASE + timedelta(days=9)}
    ann = enroll(program, "ann@example.com", external_id="ann")

    def read():
        with daily.memoized():
            keys = selectors.advocate_keys(program)
            answer = selectors.program_metrics(program=program, **period)
            return set(keys), answer["clv"]["advocates"], answer["journey"]["purchased"]

    assert read() == ({"ann", "ann@example.com"}, "50.00", 1)
    assert read() == ({"ann", "ann@example.com"}, "50.00", 1)  # kept

    def kept():  # this program's kept keys (the process keeps other tests' too)
        return [k for k in daily._finished if k[0] == program.pk and k[2][0] == "advocate_keys"]

    assert len(kept()) == 1

    Advocate.objects.filter(pk=ann.pk).update(status=Advocate.Status.INVITED)
    assert read() == (set(), None, 2)
    Advocate.objects.filter(pk=ann.pk).update(status=Advocate.Status.ACTIVE)
    # A customer profile "bob" linked to ann's advocacy by an import (bulk update).
    bob = f.customer(program, "bob", "robert@example.com")
    Customer.objects.filter(pk=bob.pk).update(advocate=ann)
    assert read() == ({"ann", "ann@example.com", "bob", "robert@example.com"}, "60.00", 0)
    # Three reads of different data, one read of the keys each.
    assert len(kept()) == 3


def test_yesterday_is_read_from_its_rollup_once_settled(
    program, django_capture_on_commit_callbacks
):
    """Yesterday is counted raw until a rebuild that starts ``SETTLE`` after midnight;
    then from its rollup, until an event of yesterday reported today marks it again."""
    link = enroll(program, "ann@example.com").links.get()
    f.click(link, at(4, 22))
    f.backfilled_order(program, "o-1", 5000, at(4, 23), external_id="ann")
    services.rollups_rebuild(program=program, start=BASE, end=BASE + timedelta(days=5))
    period = {"date_from": BASE + timedelta(days=4), "date_to": BASE + timedelta(days=5)}

    def read(hour: int, minute: int = 0, *, same: bool = True):
        with time_machine.travel(at(5, hour) + timedelta(minutes=minute), tick=False):
            with daily.memoized():
                answer = selectors.program_metrics(program=program, **period)
                live = daily.live_from(program)
            raw = selectors.program_metrics(program=program, source="raw", **period)
            assert (answer == raw) is same
            return live, answer["funnel"]["clicks"], answer["customers"]["new"]

    def rebuild(hour: int, minute: int = 0):
        at_ = at(5, hour) + timedelta(minutes=minute)
        with time_machine.travel(at_, tick=False), django_capture_on_commit_callbacks(execute=True):
            services.rollups_sweep(days=1)
            services.rollups_refresh()

    yesterday, today = BASE + timedelta(days=4), BASE + timedelta(days=5)
    assert read(0, 5) == (yesterday, 1, 1)  # nothing rebuilt since midnight: raw
    rebuild(0, 10)  # too early: a click spooled at 23:59 may not be written yet
    assert read(0, 30) == (yesterday, 1, 1)
    rebuild(0, 20)
    assert read(0, 30) == (today, 1, 1)  # settled: from the rollup

    # A click written straight into the table (the spool's way, no event) is not seen
    # until the hourly sweep; an order of yesterday reported today marks the day.
    Click.objects.bulk_create(
        [Click(program=program, link=link, advocate=link.advocate, created_at=at(4, 23))]
    )
    assert read(1, same=False) == (today, 1, 1)
    with time_machine.travel(at(5, 2), tick=False):
        f.backfilled_order(program, "o-2", 3000, at(4, 23), external_id="bob")
    assert RollupMark.objects.filter(program=program, day=yesterday).exists()
    assert read(2) == (yesterday, 2, 2)  # marked: raw again, the click included
    rebuild(3)
    assert read(3) == (today, 2, 2)
