"""Keeping advocates engaged beyond cash: tiers, challenges, testimonials, recognition."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from advocacy.models import Advocate, Program
from rewards.models import Perk, Reward


class Upload(models.Model):
    """An image an advocate sent (a proof screenshot, a testimonial photo), kept in the
    database so it needs no shared disk; served by id through the app's views."""

    MAX_BYTES = 2 * 1024 * 1024
    TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")

    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="+")
    content_type = models.CharField(max_length=40)
    data = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"upload {self.pk} ({self.content_type})"


def _perk_of_program(obj, field: str) -> None:
    perk = getattr(obj, field)
    if perk is not None and obj.program_id and perk.program_id != obj.program_id:
        raise ValidationError({field: "Choose a perk of this program."})


class Moderation(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Challenge(models.Model):
    """Something an advocate can do for points before a deadline."""

    class Kind(models.TextChoices):
        SHARE = "share", "Share on a channel"
        REVIEW = "review", "Write a review"
        REFER = "refer", "Refer friends"
        HASHTAG = "hashtag", "Post with a hashtag"
        SURVEY = "survey", "Answer a survey"
        CUSTOM = "custom", "Custom"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="challenges")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=120)
    points = models.PositiveIntegerField(default=0)
    deadline = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    description = models.TextField(blank=True, help_text="What to do, in the advocate's words.")
    channel = models.CharField(
        max_length=40, blank=True, help_text="Share: the channel (Instagram, LinkedIn, ...)."
    )
    target_url = models.URLField(
        blank=True, help_text="Review: where to write it (Google, Trustpilot or any URL)."
    )
    hashtag = models.CharField(max_length=60, blank=True, help_text="Hashtag: e.g. #NordlysLove")
    question = models.CharField(max_length=300, blank=True, help_text="Survey: the question.")
    target_count = models.PositiveSmallIntegerField(
        default=0, help_text="Refer N friends: how many friends, counted from the start."
    )
    is_active = models.BooleanField(default=True)
    perk = models.ForeignKey(
        Perk,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Also given when an entry is approved (e.g. early access to a drop).",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def clean(self):
        _perk_of_program(self, "perk")

    @property
    def is_open(self) -> bool:
        return self.is_active and (self.deadline is None or self.deadline > timezone.now())


class ChallengeSubmission(models.Model):
    """An advocate's proof that they did a challenge, moderated by a manager."""

    challenge = models.ForeignKey(Challenge, on_delete=models.PROTECT, related_name="submissions")
    advocate = models.ForeignKey(
        Advocate, on_delete=models.PROTECT, related_name="challenge_submissions"
    )
    status = models.CharField(max_length=10, choices=Moderation.choices, default=Moderation.PENDING)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    proof_url = models.URLField(blank=True, max_length=500)
    screenshot = models.ForeignKey(
        "nurture.Upload", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    answer = models.TextField(blank=True)
    rejection_reason = models.CharField(max_length=300, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reward = models.OneToOneField(
        Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One live submission per advocate and challenge; a rejected one may be redone.
            models.UniqueConstraint(
                fields=["challenge", "advocate"],
                condition=~Q(status="rejected"),
                name="nurture_one_live_submission",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.challenge} by {self.advocate}"


class Testimonial(models.Model):
    """A testimonial an advocate wrote, published only with consent and approval."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="testimonials")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="testimonials")
    text = models.TextField()
    rating = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    consent_to_publish = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Moderation.choices, default=Moderation.PENDING)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    display_name = models.CharField(
        max_length=60, blank=True, help_text="How the author is named when published."
    )
    photo = models.ForeignKey(
        "nurture.Upload", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    featured = models.BooleanField(default=False)
    rejection_reason = models.CharField(max_length=300, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.rating}/5 by {self.advocate}"


class Tier(models.Model):
    """A VIP level an advocate reaches by points, referrals or referred revenue."""

    class Metric(models.TextChoices):
        POINTS = "points", _("Points earned")
        REFERRALS = "referrals", _("Friends referred")
        REVENUE = "revenue", _("Referred revenue")

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="tiers")
    name = models.CharField(max_length=60)
    rank = models.PositiveSmallIntegerField(
        default=1, help_text="1 for the first tier, 2 for the next, ...: higher ranks win."
    )
    metric = models.CharField(max_length=10, choices=Metric.choices, default=Metric.POINTS)
    threshold = models.PositiveBigIntegerField(
        help_text="Points, friends, or revenue in minor units of the program's currency."
    )
    window_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Counted over the last N days; empty for lifetime."
    )
    multiplier = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("1.00")), MaxValueValidator(Decimal("10.00"))],
        help_text="Cash and points from the program's rules are multiplied by this.",
    )
    entry_points = models.PositiveIntegerField(
        default=0, help_text="Points given once, the first time the advocate enters the tier."
    )
    perks = models.TextField(blank=True, help_text="One perk per line, shown to the advocate.")
    entry_perk = models.ForeignKey(
        Perk,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Given once, the first time the advocate enters the tier (e.g. early "
        "access to a sale), with its link or code.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["program", "rank", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["program", "name"], name="nurture_tier_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        _perk_of_program(self, "entry_perk")

    @property
    def perk_list(self) -> list[str]:
        return [line.strip() for line in self.perks.splitlines() if line.strip()]


class Standing(models.Model):
    """An advocate's place in the program: their tier, and how they appear publicly."""

    advocate = models.OneToOneField(Advocate, on_delete=models.CASCADE, related_name="standing")
    tier = models.ForeignKey(Tier, on_delete=models.SET_NULL, null=True, blank=True)
    multiplier = models.DecimalField(
        max_digits=4, decimal_places=2, default=Decimal("1.00"), help_text="The tier's, kept here."
    )
    tier_since = models.DateTimeField(null=True, blank=True)
    leaderboard_opt_in = models.BooleanField(default=False)
    display_name = models.CharField(max_length=40, blank=True)
    recomputed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.advocate}: {self.tier or '-'}"


class TierChange(models.Model):
    """A tier entered or left: the history the advocate and the managers see."""

    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(
        Tier, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_tier = models.ForeignKey(
        Tier, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.advocate}: {self.from_tier or '-'} -> {self.to_tier or '-'}"


class Badge(models.Model):
    """A badge an advocate earned; each code once per advocate."""

    class Code(models.TextChoices):
        FIRST_REFERRAL = "first_referral", _("First referral")
        FIVE_REFERRALS = "five_referrals", _("5 referrals")
        TEN_REFERRALS = "ten_referrals", _("10 referrals")
        TIER_REACHED = "tier_reached", _("VIP tier reached")
        CHALLENGE_STREAK = "challenge_streak", _("Challenge streak")
        ADVOCATE_OF_THE_MONTH = "advocate_of_month", _("Advocate of the month")

    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="badges")
    code = models.CharField(max_length=20, choices=Code.choices)
    awarded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["awarded_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["advocate", "code"], name="nurture_badge_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_code_display()} ({self.advocate})"


class Suggestion(models.Model):
    """An advocate's idea to improve the program; managers answer it."""

    class Status(models.TextChoices):
        OPEN = "open", _("Under review")
        PLANNED = "planned", _("Planned")
        DONE = "done", _("Done")
        DECLINED = "declined", _("Declined")

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="suggestions")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="suggestions")
    title = models.CharField(max_length=120)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    reply = models.TextField(blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class SuggestionVote(models.Model):
    suggestion = models.ForeignKey(Suggestion, on_delete=models.CASCADE, related_name="votes")
    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["suggestion", "advocate"], name="nurture_vote_once"),
        ]

    def __str__(self) -> str:
        return f"{self.advocate} for {self.suggestion}"


class ProgramSettings(models.Model):
    """A program's engagement settings: leaderboard, review requests, re-engagement."""

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="nurture")
    leaderboard_enabled = models.BooleanField(default=True)
    engagement_emails = models.BooleanField(
        default=True,
        help_text="Email advocates when a friend signs up or buys, and for badges and "
        "milestones (programs without these settings send none of them).",
    )
    show_friend_names = models.BooleanField(
        default=False,
        help_text="Name the friend (first name, or masked email) in 'a friend signed up' emails.",
    )
    review_request_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Ask advocates for a review N days after a purchase."
    )
    review_url = models.URLField(blank=True, help_text="Where the review request sends them.")
    reengage_after_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Remind advocates with no click for N days."
    )
    advocate_of_the_month = models.ForeignKey(
        Advocate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name_plural = "program settings"

    def __str__(self) -> str:
        return f"{self.program} engagement"


class WelcomeStep(models.Model):
    """One email of the welcome sequence, sent N days after joining (editable)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="welcome_steps")
    day = models.PositiveSmallIntegerField(help_text="Days after joining: 0, 3, 10, ...")
    subject = models.CharField(max_length=150)
    body = models.TextField(help_text="Plain text; {name} and {program} are filled in.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["program", "day"]
        constraints = [
            models.UniqueConstraint(fields=["program", "day"], name="nurture_welcome_day_once"),
        ]

    def __str__(self) -> str:
        return f"day {self.day}: {self.subject}"


class OutgoingEmail(models.Model):
    """Every email nurture sends, as sent (or why not), for the admin."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped (preferences)"
        FAILED = "failed", "Failed"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=120, unique=True)
    template = models.CharField(max_length=60)
    params = models.JSONField(default=dict, blank=True)
    to = models.EmailField(max_length=254, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.CharField(max_length=300, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it until then (or crashed)."
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.template} to {self.to or self.advocate}"
