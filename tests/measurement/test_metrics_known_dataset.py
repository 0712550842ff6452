"""Every metric of the contract on a known dataset, against numbers worked out by hand.

The program: Acme Friends, EUR, 10.00 cash to the advocate for a friend's first
purchase, 10 % off for the friend (a coupon: not a cash cost), and a churn
window of 90 days. The period is March 2026: [2026-03-01, 2026-04-01) UTC.
Customers, history orders and NPS answers go in through the models (their
ingestion API is built elsewhere); referrals, conversions and refunds through
the public API, each at its own moment (time travel).
"""

import json
from datetime import date

from django.core.management import call_command

from measurement import selectors, services
from measurement.models import DailyRollup, RollupMark
from measurement.segments import segment_keys
from rewards.models import Reward

from . import factories as f

EXPECTED = {
    "from": "2026-03-01",
    "to": "2026-03-31",
    "currency": "EUR",
    "funnel": {
        "invited": 3,  # c2 (1 Mar), c3 (3 Mar), Carol (4 Mar); c9 was 27 Feb
        "joined": 1,  # Bob (Alice joined in February, Carol is only invited)
        "sharing": 2,  # Alice and Bob clicked in March
        "clicks": 4,  # Alice 3 + Bob 1 in March
        "referrals": 4,  # f1, f2, f3, f4 (f0 was in February)
        "purchases": 3,  # o-f1, o-f3-1, o-f3-2 (o-f2 fully refunded, o-f4 in April)
    },
    # f1 and f3 bought by 31 March; f2's only order was refunded; f4 bought in April:
    # 2 / 4 x 100 = 50.0
    "referral_conversion_rate": 50.0,
    # o-f1 120.00 - 20.00 + o-f3-1 40.00 + o-f3-2 30.00 = 170.00
    "referred_revenue": "170.00",
    # Cash rewards issued in March, net of reversals: Alice for f1 10.00 - 1.66
    # (20/120 of it, rounded down to 166 minor units) = 8.34; Alice for f2 10.00 -
    # 10.00 = 0; Bob for f3's first order 10.00 (none for a repeat order) = 18.34
    "reward_cost": "18.34",
    # (170.00 - 18.34) / 18.34 = 151.66 / 18.34 = 8.2693... -> 8.27
    "roi": 8.27,
    # latest answers in March: c1 6 (D), c3 10 (P), f1 8 (passive), Alice 9 (P):
    # (2 - 1) / 4 x 100 = 25
    "nps": {"score": 25, "responses": 4, "promoters": 2, "passives": 1, "detractors": 1},
    # Active at 1 March = an order in [1 Dec 2025, 1 Mar): c1 (10 Feb), c3 (20 Jan),
    # Dora (5 Dec), Alice (5 Jan), f0 (16 Feb) -> S = 5 (c2's 15 Nov is too old).
    # Active at 1 April = an order in [1 Jan, 1 Apr): c1, c3, Alice, f0, f1, f3, Erin
    # -> E = 7 (Dora and c2 churned). New in March: f1, f3, Erin -> N = 3.
    "customers": {"start": 5, "end": 7, "new": 3},
    # (E - N) / S x 100 = (7 - 3) / 5 x 100 = 80.0; churn = 100 - 80.0 = 20.0
    "retention_rate": 80.0,
    "churn_rate": 20.0,
    # Customers by 31 March: c1, c2, c3, Dora, Alice, f0, f1, f3, Erin = 9
    # (c5 fully refunded, c6 only in dollars, f2 refunded, f4 in April);
    # with >= 2 orders: c1 (3), f3 (2) -> 2 / 9 x 100 = 22.22 -> 22.2
    "repeat_purchase_rate": 22.2,
    # Net revenue by 31 March: c1 100 + 50 + 70 = 220, c2 80, c3 60, Dora 40,
    # Alice 90, Erin 35 (first order not attributed) and f0 25, f1 100, f3 70
    # (referred). referred (25 + 100 + 70) / 3 = 65.00; non-referred
    # (220 + 80 + 60 + 40 + 90 + 35) / 6 = 525 / 6 = 87.50; advocates: Alice 90.00;
    # non-advocates (630 - 0) / 8: 220+80+60+40+25+100+70+35 = 630 / 8 = 78.75
    "clv": {
        "referred": "65.00",
        "non_referred": "87.50",
        "advocates": "90.00",
        "non_advocates": "78.75",
    },
    "excluded_orders": 1,  # h-c6 in USD on 5 March
}


def contract_part(answer):
    return {k: answer[k] for k in EXPECTED}


def test_every_contract_metric_matches_the_hand_worked_numbers(dataset, api):
    march = {"program": dataset, "date_from": date(2026, 3, 1), "date_to": date(2026, 3, 31)}
    # The books this rests on: the reward cost is what the rewards say.
    cash = Reward.objects.filter(program=dataset, kind=Reward.Kind.CASH)
    assert sorted(r.amount_minor - r.reversed_minor for r in cash) == [0, 834, 1000, 1000, 1000]

    # Counted from the raw rows.
    assert contract_part(selectors.program_metrics(**march, source="raw")) == EXPECTED

    # Built: the same numbers from the rollups alone.
    services.rollups_rebuild(program=dataset, start=date(2026, 2, 1), end=date(2026, 4, 30))
    assert not RollupMark.objects.filter(program=dataset).exists()
    assert DailyRollup.objects.filter(program=dataset, day=date(2026, 3, 4)).exists()
    assert contract_part(selectors.program_metrics(**march)) == EXPECTED

    # And the API says the same.
    response = api.get("/api/v1/metrics?from=2026-03-01&to=2026-03-31")
    assert response.status_code == 200
    assert contract_part(response.json()) == EXPECTED


def test_the_other_numbers_of_the_issue(dataset):
    answer = selectors.program_metrics(
        program=dataset, date_from=date(2026, 3, 1), date_to=date(2026, 3, 31)
    )
    # New referred customers in March: f1, f3 (first orders attributed) -> 2 of N = 3
    assert answer["new_referred_customers"] == 2
    assert answer["referral_share_of_new_customers"] == 66.7  # 2 / 3 x 100
    assert answer["cac_referred"] == "9.17"  # 18.34 / 2
    # Advocates by 31 March (not only invited): Alice, Bob = 2. Clicks 4.
    # invites per advocate 4 / 2 = 2.0; invite conversion 2 / 4 = 50.0 %; K = 2 / 2 = 1.0
    assert answer["k_factor"]["k_factor"] == 1.0
    assert answer["k_factor"]["invites_per_advocate"] == 2.0
    assert answer["k_factor"]["invite_conversion_rate"] == 50.0
    # Cycle: f1 bought 4 Mar 12:00, Alice joined 1 Feb 12:00 -> 31 days; f3 bought
    # 12 Mar 12:00, Bob joined 2 Mar 12:00 -> 10 days. Median 20.5
    assert answer["k_factor"]["cycle_time_days"] == 20.5
    assert answer["nps_trend"] == [
        {"month": "2026-03", "score": 25, "responses": 4, "promoters": 2, "passives": 1,
         "detractors": 1},
    ]  # fmt: skip
    # Journey at 31 March: aware = 4 clicks; considering = f2, f4 (signed up, no
    # counted order); purchased = one order or lapsed: c2, c3, Dora, f0, f1, Erin = 6;
    # retained = >= 2 orders and active: c1, f3 = 2; advocate = Alice, Bob = 2
    assert answer["journey"] == {
        "aware": 4, "considering": 2, "purchased": 6, "retained": 2, "advocate": 2,
    }  # fmt: skip


def test_a_segment_limits_the_customer_numbers(dataset):
    segment = dataset.segments.create(
        name="Picked", slug="picked", filters={"external_ids": ["c1", "c3"]}
    )
    f.customer(dataset, "c1", "c1@example.com")  # c3 has a profile already

    answer = selectors.program_metrics(
        program=dataset,
        date_from=date(2026, 3, 1),
        date_to=date(2026, 3, 31),
        segment_keys=segment_keys(segment),
    )
    # c1 and c3: both active at start and end, none new -> retention 100.0
    assert answer["customers"] == {"start": 2, "end": 2, "new": 0}
    assert answer["retention_rate"] == 100.0
    # latest answers: c1 detractor, c3 promoter -> 0
    assert answer["nps"]["score"] == 0
    assert answer["clv"]["non_referred"] == "140.00"  # (220 + 60) / 2


def test_the_command_prints_the_same_json(dataset, capsys):
    call_command("metrics", "--program", dataset.slug, "--from", "2026-03-01", "--to", "2026-03-31")
    assert contract_part(json.loads(capsys.readouterr().out)) == EXPECTED
