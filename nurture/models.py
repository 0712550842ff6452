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

    advocate = models.ForeignKey(
        Advocate, on_delete=models.CASCADE, related_name="+", verbose_name=_("advocate")
    )
    content_type = models.CharField(max_length=40, verbose_name=_("content type"))
    data = models.BinaryField(verbose_name=_("data"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created"))

    class Meta:
        verbose_name = _("uploaded image")
        verbose_name_plural = _("uploaded images")

    def __str__(self) -> str:
        return f"upload {self.pk} ({self.content_type})"


def _perk_of_program(obj, field: str) -> None:
    perk = getattr(obj, field)
    if perk is not None and obj.program_id and perk.program_id != obj.program_id:
        raise ValidationError({field: "Choose a perk of this program."})


class Moderation(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class Challenge(models.Model):
    """Something an advocate can do for points before a deadline."""

    class Kind(models.TextChoices):
        SHARE = "share", _("Share on a channel")
        REVIEW = "review", _("Write a review")
        REFER = "refer", _("Refer friends")
        HASHTAG = "hashtag", _("Post with a hashtag")
        SURVEY = "survey", _("Answer a survey")
        CUSTOM = "custom", _("Custom")

    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="challenges", verbose_name=_("program")
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, verbose_name=_("kind"))
    title = models.CharField(max_length=120, verbose_name=_("title"))
    points = models.PositiveIntegerField(default=0, verbose_name=_("points"))
    deadline = models.DateTimeField(null=True, blank=True, verbose_name=_("deadline"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created"))
    description = models.TextField(
        blank=True,
        help_text=_("What to do, in the advocate's words."),
        verbose_name=_("description"),
    )
    channel = models.CharField(
        max_length=40,
        blank=True,
        help_text=_("Share: the channel (Instagram, LinkedIn, ...)."),
        verbose_name=_("channel"),
    )
    target_url = models.URLField(
        blank=True,
        help_text=_("Review: where to write it (Google, Trustpilot or any URL)."),
        verbose_name=_("target URL"),
    )
    hashtag = models.CharField(
        max_length=60,
        blank=True,
        help_text=_("Hashtag: e.g. #NordlysLove"),
        verbose_name=_("hashtag"),
    )
    question = models.CharField(
        max_length=300, blank=True, help_text=_("Survey: the question."), verbose_name=_("question")
    )
    target_count = models.PositiveSmallIntegerField(
        default=0,
        help_text=_("Refer N friends: how many friends, counted from the start."),
        verbose_name=_("target count"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("active"))
    perk = models.ForeignKey(
        Perk,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Also given when an entry is approved (e.g. early access to a drop)."),
        verbose_name=_("perk"),
    )

    class Meta:
        verbose_name = _("challenge")
        verbose_name_plural = _("challenges")
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

    challenge = models.ForeignKey(
        Challenge, on_delete=models.PROTECT, related_name="submissions", verbose_name=_("challenge")
    )
    advocate = models.ForeignKey(
        Advocate,
        on_delete=models.PROTECT,
        related_name="challenge_submissions",
        verbose_name=_("advocate"),
    )
    status = models.CharField(
        max_length=10,
        choices=Moderation.choices,
        default=Moderation.PENDING,
        verbose_name=_("status"),
    )
    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("created")
    )
    proof_url = models.URLField(blank=True, max_length=500, verbose_name=_("proof URL"))
    screenshot = models.ForeignKey(
        "nurture.Upload",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("screenshot"),
    )
    answer = models.TextField(blank=True, verbose_name=_("answer"))
    rejection_reason = models.CharField(
        max_length=300, blank=True, verbose_name=_("rejection reason")
    )
    reviewed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("reviewed at"))
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reward = models.OneToOneField(
        Reward,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reward"),
    )

    class Meta:
        verbose_name = _("challenge submission")
        verbose_name_plural = _("challenge submissions")
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

    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="testimonials", verbose_name=_("program")
    )
    advocate = models.ForeignKey(
        Advocate, on_delete=models.PROTECT, related_name="testimonials", verbose_name=_("advocate")
    )
    text = models.TextField(verbose_name=_("text"))
    rating = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)], verbose_name=_("rating")
    )
    consent_to_publish = models.BooleanField(default=False, verbose_name=_("consent to publish"))
    status = models.CharField(
        max_length=10,
        choices=Moderation.choices,
        default=Moderation.PENDING,
        verbose_name=_("status"),
    )
    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("created")
    )
    display_name = models.CharField(
        max_length=60,
        blank=True,
        help_text=_("How the author is named when published."),
        verbose_name=_("display name"),
    )
    photo = models.ForeignKey(
        "nurture.Upload",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("photo"),
    )
    featured = models.BooleanField(default=False, verbose_name=_("featured"))
    rejection_reason = models.CharField(
        max_length=300, blank=True, verbose_name=_("rejection reason")
    )
    reviewed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("reviewed at"))
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )

    class Meta:
        verbose_name = _("testimonial")
        verbose_name_plural = _("testimonials")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.rating}/5 by {self.advocate}"


class Tier(models.Model):
    """A VIP level an advocate reaches by points, referrals or referred revenue."""

    class Metric(models.TextChoices):
        POINTS = "points", _("Points earned")
        REFERRALS = "referrals", _("Friends referred")
        REVENUE = "revenue", _("Referred revenue")

    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="tiers", verbose_name=_("program")
    )
    name = models.CharField(max_length=60, verbose_name=_("name"))
    rank = models.PositiveSmallIntegerField(
        default=1,
        help_text=_("1 for the first tier, 2 for the next, ...: higher ranks win."),
        verbose_name=_("rank"),
    )
    metric = models.CharField(
        max_length=10, choices=Metric.choices, default=Metric.POINTS, verbose_name=_("metric")
    )
    threshold = models.PositiveBigIntegerField(
        help_text=_("Points, friends, or revenue in minor units of the program's currency."),
        verbose_name=_("threshold"),
    )
    window_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=_("Counted over the last N days; empty for lifetime."),
        verbose_name=_("window days"),
    )
    multiplier = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("1.00")), MaxValueValidator(Decimal("10.00"))],
        help_text=_("Cash and points from the program's rules are multiplied by this."),
        verbose_name=_("multiplier"),
    )
    entry_points = models.PositiveIntegerField(
        default=0,
        help_text=_("Points given once, the first time the advocate enters the tier."),
        verbose_name=_("entry points"),
    )
    perks = models.TextField(
        blank=True,
        help_text=_("One perk per line, shown to the advocate."),
        verbose_name=_("perks"),
    )
    entry_perk = models.ForeignKey(
        Perk,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "Given once, the first time the advocate enters the tier (e.g. early "
            "access to a sale), with its link or code."
        ),
        verbose_name=_("entry perk"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created"))

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
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

    advocate = models.OneToOneField(
        Advocate, on_delete=models.CASCADE, related_name="standing", verbose_name=_("advocate")
    )
    tier = models.ForeignKey(
        Tier, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("tier")
    )
    multiplier = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.00"),
        help_text=_("The tier's, kept here."),
        verbose_name=_("multiplier"),
    )
    tier_since = models.DateTimeField(null=True, blank=True, verbose_name=_("tier since"))
    leaderboard_opt_in = models.BooleanField(default=False, verbose_name=_("leaderboard opt in"))
    display_name = models.CharField(max_length=40, blank=True, verbose_name=_("display name"))
    recomputed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("recomputed at"))

    class Meta:
        verbose_name = _("standing")
        verbose_name_plural = _("standings")

    def __str__(self) -> str:
        return f"{self.advocate}: {self.tier or '-'}"


class TierChange(models.Model):
    """A tier entered or left: the history the advocate and the managers see."""

    advocate = models.ForeignKey(
        Advocate, on_delete=models.CASCADE, related_name="tier_changes", verbose_name=_("advocate")
    )
    from_tier = models.ForeignKey(
        Tier,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("from tier"),
    )
    to_tier = models.ForeignKey(
        Tier,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("to tier"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created"))

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
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

    advocate = models.ForeignKey(
        Advocate, on_delete=models.CASCADE, related_name="badges", verbose_name=_("advocate")
    )
    code = models.CharField(max_length=20, choices=Code.choices, verbose_name=_("code"))
    awarded_at = models.DateTimeField(default=timezone.now, verbose_name=_("awarded at"))

    class Meta:
        verbose_name = _("badge")
        verbose_name_plural = _("badges")
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

    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="suggestions", verbose_name=_("program")
    )
    advocate = models.ForeignKey(
        Advocate, on_delete=models.PROTECT, related_name="suggestions", verbose_name=_("advocate")
    )
    title = models.CharField(max_length=120, verbose_name=_("title"))
    body = models.TextField(blank=True, verbose_name=_("body"))
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.OPEN, verbose_name=_("status")
    )
    reply = models.TextField(blank=True, verbose_name=_("reply"))
    replied_at = models.DateTimeField(null=True, blank=True, verbose_name=_("replied at"))
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("replied by"),
    )
    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("created")
    )

    class Meta:
        verbose_name = _("suggestion")
        verbose_name_plural = _("suggestions")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class SuggestionVote(models.Model):
    suggestion = models.ForeignKey(
        Suggestion, on_delete=models.CASCADE, related_name="votes", verbose_name=_("suggestion")
    )
    advocate = models.ForeignKey(
        Advocate, on_delete=models.CASCADE, related_name="+", verbose_name=_("advocate")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created"))

    class Meta:
        verbose_name = _("suggestion vote")
        verbose_name_plural = _("suggestion votes")
        constraints = [
            models.UniqueConstraint(fields=["suggestion", "advocate"], name="nurture_vote_once"),
        ]

    def __str__(self) -> str:
        return f"{self.advocate} for {self.suggestion}"


class ProgramSettings(models.Model):
    """A program's engagement settings: leaderboard, review requests, re-engagement."""

    program = models.OneToOneField(
        Program, on_delete=models.CASCADE, related_name="nurture", verbose_name=_("program")
    )
    leaderboard_enabled = models.BooleanField(default=True, verbose_name=_("leaderboard enabled"))
    engagement_emails = models.BooleanField(
        default=True,
        help_text=_(
            "Email advocates when a friend signs up or buys, and for badges and "
            "milestones (programs without these settings send none of them)."
        ),
        verbose_name=_("engagement emails"),
    )
    show_friend_names = models.BooleanField(
        default=False,
        help_text=_(
            "Name the friend (first name, or masked email) in 'a friend signed up' emails."
        ),
        verbose_name=_("show friend names"),
    )
    review_request_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=_("Ask advocates for a review N days after a purchase."),
        verbose_name=_("review request days"),
    )
    review_url = models.URLField(
        blank=True,
        help_text=_("Where the review request sends them."),
        verbose_name=_("review URL"),
    )
    reengage_after_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=_("Remind advocates with no click for N days."),
        verbose_name=_("reengage after days"),
    )
    advocate_of_the_month = models.ForeignKey(
        Advocate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("advocate of the month"),
    )

    class Meta:
        verbose_name = _("program settings")
        verbose_name_plural = _("program settings")

    def __str__(self) -> str:
        return f"{self.program} engagement"


class WelcomeStep(models.Model):
    """One email of the welcome sequence, sent N days after joining (editable)."""

    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, related_name="welcome_steps", verbose_name=_("program")
    )
    day = models.PositiveSmallIntegerField(
        help_text=_("Days after joining: 0, 3, 10, ..."), verbose_name=_("day")
    )
    subject = models.CharField(max_length=150, verbose_name=_("subject"))
    body = models.TextField(
        help_text=_("Plain text; {name} and {program} are filled in."), verbose_name=_("body")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("active"))

    class Meta:
        verbose_name = _("welcome step")
        verbose_name_plural = _("welcome steps")
        ordering = ["program", "day"]
        constraints = [
            models.UniqueConstraint(fields=["program", "day"], name="nurture_welcome_day_once"),
        ]

    def __str__(self) -> str:
        return f"day {self.day}: {self.subject}"


class OutgoingEmail(models.Model):
    """Every email nurture sends, as sent (or why not), for the admin."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped (preferences)")
        FAILED = "failed", _("Failed")

    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, related_name="+", verbose_name=_("program")
    )
    advocate = models.ForeignKey(
        Advocate, on_delete=models.CASCADE, related_name="+", verbose_name=_("advocate")
    )
    key = models.CharField(max_length=120, unique=True, verbose_name=_("key"))
    template = models.CharField(max_length=60, verbose_name=_("template"))
    params = models.JSONField(default=dict, blank=True, verbose_name=_("params"))
    to = models.EmailField(max_length=254, blank=True, verbose_name=_("to"))
    subject = models.CharField(max_length=200, blank=True, verbose_name=_("subject"))
    text = models.TextField(blank=True, verbose_name=_("text"))
    html = models.TextField(blank=True, verbose_name=_("html"))
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, verbose_name=_("status")
    )
    error = models.CharField(max_length=300, blank=True, verbose_name=_("error"))
    claimed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("A worker is sending it until then (or crashed)."),
        verbose_name=_("claimed until"),
    )
    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("created")
    )
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))

    class Meta:
        verbose_name = _("outgoing email")
        verbose_name_plural = _("outgoing emails")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.template} to {self.to or self.advocate}"
