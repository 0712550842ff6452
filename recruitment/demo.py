"""Demo data for recruitment: a few thousand customers with an order history.

Called by ``seed_demo``. Deterministic (a fixed random seed) and fast: rows go in
with ``bulk_create``; order history is backfilled conversions (never rewarded),
then everyone is scored. Adds NPS answers (detractors land in the follow-up
queue), a segment of likely advocates and a finished invitation campaign with
a realistic funnel. Nothing is emailed.
"""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from advocacy.models import Advocate, Program
from advocacy.services import advocate_enroll
from core.normalize import normalize_email
from referrals.models import Conversion, ReferralLink
from referrals.services import referral_create

from . import learned
from .models import (
    AdvocateModel,
    Campaign,
    CampaignRecipient,
    Customer,
    NpsResponse,
    RecruitmentSettings,
    Segment,
)
from .scoring import customers_rescore
from .selectors import segment_customers
from .services import customers_link_advocates

CUSTOMERS = 3000
FIRST = [
    "Ada",
    "Bo",
    "Cleo",
    "Dag",
    "Eva",
    "Finn",
    "Greta",
    "Hugo",
    "Ines",
    "Jon",
    "Kari",
    "Liv",
    "Mei",
    "Nils",
    "Oana",
    "Per",
    "Rui",
    "Siri",
]
LAST = [
    "Berg",
    "Chen",
    "Dahl",
    "Eriksson",
    "Hansen",
    "Ionescu",
    "Li",
    "Lund",
    "Nilsson",
    "Popescu",
    "Strand",
    "Wang",
    "Zhou",
]
LOCALES = ["en", "en", "nb", "sv", "ro", "zh-hans"]


def seed(*, program: Program, customers: int = CUSTOMERS) -> int:
    """Seed the program's customers once; returns how many were created (0 when seeded)."""
    if Customer.objects.filter(program=program).exists():
        return 0
    rng = random.Random(20261130)
    now = timezone.now()
    with transaction.atomic():
        RecruitmentSettings.objects.get_or_create(program=program)
        rows = []
        for i in range(customers):
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            email = f"customer{i:05d}@example.com"
            rows.append(
                Customer(
                    program=program,
                    external_id=f"demo-{i:05d}",
                    email=email,
                    email_normalized=normalize_email(email),
                    name=name,
                    locale=rng.choice(LOCALES),
                    marketing_consent=rng.random() < 0.8,
                    reviews=rng.choice([0, 0, 0, 1, 2, 5]),
                    review_rating=rng.choice([None, 3, 4, 5, 5]),
                    social_engagement=int(rng.expovariate(1 / 15)),
                    created_at=now - timedelta(days=rng.randint(30, 900)),
                    updated_at=now,
                )
            )
        # Jane and Olav, the demo advocates, are customers too (linked by email).
        for n, email in enumerate(["jane@example.com", "olav@example.com"]):
            rows.append(
                Customer(
                    program=program,
                    external_id=f"demo-advocate-{n}",
                    email=email,
                    email_normalized=email,
                    name=email.split("@")[0].title(),
                    marketing_consent=True,
                    reviews=4,
                    review_rating=5,
                )
            )
        made = Customer.objects.bulk_create(rows, batch_size=2000)
        orders, answers, loyalties = [], [], {}
        for c in made:
            loyalty = rng.random()
            loyalties[c.pk] = loyalty
            for k in range(int(loyalty * loyalty * 10)):
                at = now - timedelta(days=rng.randint(1, 720), minutes=rng.randint(0, 1440))
                amount = rng.randint(1500, 25000)
                orders.append(
                    Conversion(
                        program=program,
                        order_id=f"demo-{c.external_id}-{k}",
                        amount_minor=amount,
                        currency=program.currency,
                        customer_email=c.email,
                        customer_email_normalized=c.email_normalized,
                        customer_external_id=c.external_id,
                        attribution_reason="history (backfill): never attributed",
                        backfill=True,
                        request_fingerprint=f"demo-{c.external_id}-{k}",
                        occurred_at=at,
                        created_at=now,
                    )
                )
            if rng.random() < 0.45:
                score = max(0, min(10, round(rng.gauss(4 + loyalty * 6, 2))))
                category = NpsResponse.category_for(score)
                answers.append(
                    NpsResponse(
                        program=program,
                        customer=c,
                        customer_external_id=c.external_id,
                        customer_email_normalized=c.email_normalized,
                        score=score,
                        category=category,
                        comment=rng.choice(["", "", "Fast delivery", "Too expensive", "Love it"]),
                        occurred_at=now - timedelta(days=rng.randint(1, 300)),
                        followup_status=NpsResponse.FollowUp.OPEN
                        if category == NpsResponse.Category.DETRACTOR
                        else NpsResponse.FollowUp.NONE,
                    )
                )
        Conversion.objects.bulk_create(orders, batch_size=2000)
        NpsResponse.objects.bulk_create(answers, batch_size=2000)
        ids = [c.pk for c in made]
        customers_link_advocates(program=program, customer_ids=ids)
        _past_advocates(program, made, answers, loyalties, rng)
        for start in range(0, len(ids), 1000):
            customers_rescore(program=program, customer_ids=ids[start : start + 1000])
        segment = Segment.objects.create(
            program=program,
            name="Likely advocates",
            slug="likely-advocates",
            filters={"score_min": 55, "marketing_consent": True, "advocate": False},
        )
        Segment.objects.create(
            program=program,
            name="Lapsed promoters",
            slug="lapsed-promoters",
            filters={"nps": ["promoter"], "last_order_before_days": 180},
        )
        _finished_campaign(program, segment, rng, now)
        # The learned model on this history (fails with a clear message without the
        # ml extra; the default score ranks either way).
        model = AdvocateModel.objects.create(program=program)
    learned.advocate_model_train(model_id=model.pk)
    return len(made)


def _past_advocates(program, made, answers, loyalties, rng) -> None:
    """Customers who joined earlier, some of whom referred friends: the outcomes the
    learned model trains on. Likelier for loyal, happy, social customers."""
    nps = {a.customer_id: a.score for a in answers}
    for c in made:
        if c.advocate_id or c.external_id.startswith("demo-advocate"):
            continue
        answer = nps.get(c.pk)
        odds = 0.01 + 0.2 * loyalties[c.pk] ** 2 + (0.12 if answer and answer >= 9 else 0)
        odds += 0.05 if c.social_engagement > 30 else 0
        if rng.random() >= odds:
            continue
        advocate, _ = advocate_enroll(
            program=program, email=c.email, name=c.name, external_id=c.external_id,
            locale=c.locale, status=Advocate.Status.ACTIVE,
        )  # fmt: skip
        Customer.objects.filter(pk=c.pk).update(advocate=advocate)
        if rng.random() < 0.35:
            continue  # joined, never shared
        link = ReferralLink.objects.filter(advocate=advocate).first()
        for k in range(rng.randint(1, 3)):
            referral_create(
                program=program,
                friend_email=f"friend-{c.external_id}-{k}@example.com",
                referral_code=link.code,
            )


def _finished_campaign(program, segment, rng, now) -> None:
    """A campaign sent two weeks ago, with its funnel (written directly: demo history)."""
    sent_at = now - timedelta(days=14)
    campaign = Campaign.objects.create(
        program=program,
        name="Spring invitation",
        segment=segment,
        status=Campaign.Status.DONE,
        send_at=sent_at,
        reminders=0,
        step=1,
        step_started_at=sent_at,
        step_finished_at=sent_at + timedelta(minutes=20),
        created_at=sent_at,
    )
    S = CampaignRecipient.State
    recipients = []
    for pk in segment_customers(segment).values_list("pk", flat=True):
        r = CampaignRecipient(campaign=campaign, customer_id=pk, created_at=sent_at)
        roll = rng.random()
        if roll < 0.03:
            r.state = S.FAILED
            r.last_error = "refused: mailbox unavailable"
        else:
            r.state, r.steps_sent, r.claimed_step, r.sent_at = S.SENT, 1, 1, sent_at
            if roll < 0.55:
                r.state, r.opened_at = S.OPENED, sent_at + timedelta(hours=rng.randint(1, 72))
            if roll < 0.25:
                r.state, r.clicked_at = S.CLICKED, r.opened_at
            if 0.05 < roll < 0.07:
                r.state, r.unsubscribed_at = S.UNSUBSCRIBED, r.opened_at
        recipients.append(r)
    CampaignRecipient.objects.bulk_create(recipients, batch_size=2000)
