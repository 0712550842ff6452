"""Demo engagement data for ``manage.py seed_demo``: tiers, challenges, welcome emails,
testimonials and an answered idea. Safe to run again: it only fills what is missing."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from advocacy.models import Advocate, Program

from . import services
from .models import (
    Challenge,
    ProgramSettings,
    Suggestion,
    Testimonial,
    Tier,
    WelcomeStep,
)
from .tiers import standing_recompute

TIERS = [
    # name, rank, metric, threshold, window, multiplier, entry points, perks
    # Silver multiplies nothing: the demo's first purchases pay the offer as advertised.
    ("Silver", 1, "referrals", 2, None, "1.00", 100, "Early access to new collections"),
    ("Gold", 2, "referrals", 10, None, "1.50", 250, "Free shipping on every order\nBirthday gift"),
    ("Platinum", 3, "points", 2000, 365, "2.00", 500, "A personal shopper call each season"),
]
CHALLENGES = [
    # kind, title, points, extra fields
    ("review", "Review us on Trustpilot", 50,
     {"target_url": "https://www.trustpilot.com/", "description": "Tell others how we did."}),
    ("share", "Share your link on Instagram", 20, {"channel": "Instagram"}),
    ("hashtag", "Post your favourite piece", 30, {"hashtag": "#NordlysLove"}),
    ("survey", "One quick question", 15, {"question": "What made you choose us?"}),
    ("refer", "Bring three friends", 100, {"target_count": 3}),
    ("custom", "Unbox it on video", 40, {"description": "Film your unboxing and send the link."}),
]  # fmt: skip
WELCOME = [
    (0, "Welcome to {program}!", "Hi {name},\n\nYour link is ready: share it and earn rewards "
     "for every friend who buys.\n\nThe {program} team"),
    (3, "Three ways to share {program}", "Hi {name},\n\nPeople who share in a group chat, in a "
     "story and by email get three times the clicks. Try one today!"),
    (10, "Your first challenge is waiting", "Hi {name},\n\nChallenges give you points: write a "
     "review or post with our hashtag, and climb to the Silver tier."),
]  # fmt: skip


def seed(*, program: Program) -> None:
    """Fill the demo program with engagement data (only what is not there yet)."""
    ProgramSettings.objects.get_or_create(
        program=program,
        defaults={"review_request_days": 7, "reengage_after_days": 30,
                  "review_url": "https://www.trustpilot.com/"},
    )  # fmt: skip
    for name, rank, metric, threshold, window, multiplier, points, perks in TIERS:
        Tier.objects.get_or_create(
            program=program, name=name,
            defaults={"rank": rank, "metric": metric, "threshold": threshold,
                      "window_days": window, "multiplier": Decimal(multiplier),
                      "entry_points": points, "perks": perks},
        )  # fmt: skip
    deadline = timezone.now() + timedelta(days=30)
    for kind, title, points, extra in CHALLENGES:
        Challenge.objects.get_or_create(
            program=program, title=title,
            defaults={"kind": kind, "points": points, "deadline": deadline, **extra},
        )  # fmt: skip
    for day, subject, body in WELCOME:
        WelcomeStep.objects.get_or_create(
            program=program, day=day, defaults={"subject": subject, "body": body}
        )
    advocates = list(Advocate.objects.filter(program=program).order_by("pk"))
    if advocates and not Testimonial.objects.filter(program=program).exists():
        jane = advocates[0]
        for text, rating, name in [
            ("The quality is wonderful and my friends loved their discount.", 5, "Jane A."),
            ("Fast delivery, lovely packaging. Happy to recommend!", 4, "Olav"),
        ]:
            t = services.testimonial_submit(
                advocate=jane, text=text, rating=rating, consent_to_publish=True,
                display_name=name,
            )  # fmt: skip
            services.testimonial_moderate(testimonial_id=t.pk, approve=True)
            services.testimonial_feature(testimonial_id=t.pk, featured=True)
        services.profile_update(advocate=jane, leaderboard_opt_in=True, display_name="Jane A.")
    if advocates and not Suggestion.objects.filter(program=program).exists():
        idea = services.suggestion_create(
            advocate=advocates[0], title="Let friends choose gift wrapping"
        )
        services.suggestion_answer(
            suggestion_id=idea.pk,
            status=Suggestion.Status.DONE,
            reply="Done: gift wrapping is now an option at checkout. Thank you!",
        )
    for advocate in advocates:
        standing_recompute(advocate=advocate)
