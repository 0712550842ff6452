"""Customers, their NPS answers, segments and invitation campaigns.

The first half of the advocate lifecycle: know the customers, find the likely
advocates, invite them. Orders stay in ``referrals.Conversion`` (history sent with
``backfill`` included); a customer here is the merchant's profile of a person.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from advocacy.models import Advocate, Program


class Customer(models.Model):
    """The merchant's profile of one customer, upserted by ``external_id``."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="customers")
    external_id = models.CharField(max_length=120)
    email = models.EmailField(max_length=254, blank=True)
    email_normalized = models.CharField(max_length=254, blank=True, db_index=True)
    name = models.CharField(max_length=120, blank=True)
    locale = models.CharField(max_length=10, blank=True)
    marketing_consent = models.BooleanField(default=False)
    reviews = models.PositiveIntegerField(default=0)
    review_rating = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    social_engagement = models.PositiveIntegerField(default=0)
    attributes = models.JSONField(default=dict, blank=True)
    advocate = models.ForeignKey(
        Advocate, on_delete=models.SET_NULL, null=True, blank=True, related_name="customers"
    )
    # The advocate score, 0-100, with the model that gave it and its reasons.
    score = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    score_model = models.CharField(max_length=40, blank=True)
    score_reasons = models.JSONField(default=list, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    # Order history and latest NPS, kept here by scoring so segments filter in SQL
    # (the API's customer page computes the same live from the conversions).
    order_count = models.PositiveIntegerField(default=0)
    revenue_minor = models.BigIntegerField(
        default=0, help_text="Net revenue in the program's currency (minor units)."
    )
    first_order_at = models.DateTimeField(null=True, blank=True)
    last_order_at = models.DateTimeField(null=True, blank=True)
    nps_score = models.PositiveSmallIntegerField(null=True, blank=True)
    nps_category = models.CharField(max_length=10, blank=True)
    # One-click unsubscribe from recruitment emails (invitations, NPS surveys).
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # The address bounced for good (or its owner complained): no recruitment email
    # goes to it again until the merchant sends another address.
    undeliverable_at = models.DateTimeField(null=True, blank=True)
    undeliverable_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "external_id"], name="customer_unique_external_id"
            ),
            models.CheckConstraint(
                condition=Q(review_rating__isnull=True)
                | (Q(review_rating__gte=1) & Q(review_rating__lte=5)),
                name="customer_review_rating_1_5",
            ),
        ]
        indexes = [
            models.Index(fields=["program", "score"], name="customer_program_score"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.external_id


class NpsResponse(models.Model):
    """One answer to "how likely are you to recommend us?" (0-10)."""

    class Category(models.TextChoices):
        PROMOTER = "promoter", "Promoter"
        PASSIVE = "passive", "Passive"
        DETRACTOR = "detractor", "Detractor"

    class FollowUp(models.TextChoices):
        NONE = "none", "No follow-up"
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="nps_responses")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="nps_responses"
    )
    # Who answered, as the merchant named them (a customer may not be imported yet).
    customer_external_id = models.CharField(max_length=120, blank=True)
    customer_email_normalized = models.CharField(max_length=254, blank=True)
    score = models.PositiveSmallIntegerField(validators=[MaxValueValidator(10)])
    category = models.CharField(max_length=10, choices=Category.choices)
    comment = models.TextField(blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The detractor follow-up queue (detractors only; passives and promoters stay "none").
    followup_status = models.CharField(
        max_length=12, choices=FollowUp.choices, default=FollowUp.NONE, db_index=True
    )
    followup_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="nps_followups",
    )
    followup_note = models.TextField(blank=True)
    # An answer given through a survey email (one per survey).
    survey = models.OneToOneField(
        "NpsSurvey", on_delete=models.SET_NULL, null=True, blank=True, related_name="response"
    )

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=10), name="nps_score_0_10"),
        ]

    def __str__(self) -> str:
        return f"NPS {self.score} ({self.category})"

    @staticmethod
    def category_for(score: int) -> str:
        if score >= 9:
            return NpsResponse.Category.PROMOTER
        if score >= 7:
            return NpsResponse.Category.PASSIVE
        return NpsResponse.Category.DETRACTOR


class Segment(models.Model):
    """A saved filter over customers (fields, score, NPS, orders, consent, advocacy)."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="segments")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    filters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["program", "slug"], name="segment_unique_slug"),
        ]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    """An invitation campaign: an invitation, then reminders to who has not joined."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        DONE = "done", "Done"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=120)
    segment = models.ForeignKey(
        Segment, on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    send_at = models.DateTimeField(default=timezone.now)
    reminders = models.PositiveSmallIntegerField(default=1)
    reminder_after_days = models.PositiveSmallIntegerField(default=3)
    created_at = models.DateTimeField(default=timezone.now)
    # The step being sent or last sent: 0 none yet, 1 the invitation, 2 the first reminder...
    step = models.PositiveSmallIntegerField(default=0)
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def steps(self) -> int:
        """The invitation and its reminders."""
        return 1 + self.reminders


class CampaignRecipient(models.Model):
    """One customer in a campaign, with where their invitation stands."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED_NO_CONSENT = "skipped_no_consent", "Skipped: no consent"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        OPENED = "opened", "Opened"
        CLICKED = "clicked", "Clicked"
        JOINED = "joined", "Joined"
        BOUNCED = "bounced", "Bounced"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invitations")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    # Steps sent so far: 0 none, 1 the invitation, 2 the first reminder, ...
    steps_sent = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Exactly-once per step: a worker takes step N with a conditional UPDATE of
    # claimed_step (N-1 -> N) before the SMTP call and records steps_sent = N after.
    # A row left with claimed_step > steps_sent was interrupted mid-send: it is
    # never re-sent blindly (see recruitment.campaigns).
    claimed_step = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # The storefront widget told the signed-in customer "you're invited" (once).
    shown_in_app_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"], name="campaign_recipient_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} in {self.campaign} ({self.state})"


class RecruitmentSettings(models.Model):
    """A program's recruitment settings: the score's weights, send limits, the NPS loop."""

    program = models.OneToOneField(
        Program, on_delete=models.CASCADE, related_name="recruitment_settings"
    )
    # Weights of the default advocate score (relative; 0 switches a part off).
    weight_recency = models.PositiveSmallIntegerField(default=20)
    weight_frequency = models.PositiveSmallIntegerField(default=20)
    weight_monetary = models.PositiveSmallIntegerField(default=15)
    weight_nps = models.PositiveSmallIntegerField(default=25)
    weight_reviews = models.PositiveSmallIntegerField(default=10)
    weight_social = models.PositiveSmallIntegerField(default=5)
    weight_referrals = models.PositiveSmallIntegerField(default=5)
    frequency_target = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text="Orders that give full frequency."
    )
    monetary_target_minor = models.PositiveBigIntegerField(
        default=50000,
        validators=[MinValueValidator(1)],
        help_text="Net revenue (minor units) that gives full monetary value.",
    )
    send_rate_per_minute = models.PositiveIntegerField(
        default=600,
        validators=[MinValueValidator(1)],
        help_text="Recruitment emails (invitations, reminders, surveys) per minute, at most.",
    )
    auto_invite_promoters = models.BooleanField(
        default=False, help_text="Invite customers who answer NPS 9-10 to the program."
    )

    class Ranking(models.TextChoices):
        DEFAULT = "default", "The transparent default score"
        LEARNED = "learned", "The learned model, when it beats the default on its holdout"

    ranking = models.CharField(
        max_length=10,
        choices=Ranking.choices,
        default=Ranking.DEFAULT,
        help_text="Which score ranks customers (segments, the customer list, the API).",
    )

    class Meta:
        verbose_name = "recruitment settings"
        verbose_name_plural = "recruitment settings"

    def __str__(self) -> str:
        return f"Recruitment settings of {self.program}"


class InvitationText(models.Model):
    """A program's own invitation email in one language (the default text otherwise)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="invitation_texts")
    language = models.CharField(max_length=10, choices=settings.LANGUAGES)
    subject = models.CharField(max_length=200, help_text="Placeholders: {name}, {program}.")
    body = models.TextField(
        help_text="Placeholders: {name}, {program}, {join_url}. The unsubscribe link is added."
    )
    reminder_subject = models.CharField(max_length=200, blank=True)
    reminder_body = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "language"], name="invitation_text_unique_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.program} ({self.language})"


class SendWindow(models.Model):
    """Emails sent by a program in one minute: the per-program send-rate limit."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    minute = models.DateTimeField()
    sent = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "minute"], name="send_window_unique")
        ]

    def __str__(self) -> str:
        return f"{self.sent} sent at {self.minute:%Y-%m-%d %H:%M}"


class NpsSurvey(models.Model):
    """An NPS survey email to one customer; its links carry a token for this row."""

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="nps_surveys")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="nps_surveys")
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    skipped_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"NPS survey to {self.customer}"


class DetractorFollowUp(NpsResponse):
    """The admin's follow-up queue of detractors (a view of ``NpsResponse``)."""

    class Meta:
        proxy = True
        verbose_name = "detractor follow-up"
        verbose_name_plural = "detractor follow-ups"


class ImportJob(models.Model):
    """A CSV/XLSX upload of customers or backfilled orders: checked, then imported whole."""

    class Kind(models.TextChoices):
        CUSTOMERS = "customers", "Customers"
        ORDERS = "orders", "Order history (backfill)"

    class Status(models.TextChoices):
        CHECKED = "checked", "Checked (dry run)"
        INVALID = "invalid", "Has errors: nothing imported"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed: nothing imported"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="import_jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    filename = models.CharField(max_length=200)
    data = models.BinaryField(editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CHECKED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    preview = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.filename}"


class AdvocateModel(models.Model):
    """A learned advocate model of one program: trained in Celery, judged on a holdout.

    A logistic regression over the default score's inputs (referral history aside:
    it is the outcome), stored as plain numbers (``params``), so scoring needs no
    machine-learning library; only training does (the ``ml`` extra).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="advocate_models")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.CharField(max_length=300, blank=True)
    customers = models.PositiveIntegerField(default=0)
    positives = models.PositiveIntegerField(default=0)
    holdout = models.PositiveIntegerField(default=0)
    auc = models.FloatField(null=True, blank=True, help_text="The learned model's holdout AUC.")
    default_auc = models.FloatField(
        null=True, blank=True, help_text="The default score's AUC on the same holdout."
    )
    # [{"predicted": mean probability, "observed": rate, "n": customers}] per bin (holdout).
    calibration = models.JSONField(default=list, blank=True)
    # [{"feature", "weight"}], by influence (|coefficient|, standardised features).
    top_features = models.JSONField(default=list, blank=True)
    # means, scales, coefficients, intercept, the training scores' percentiles.
    params = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    trained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"learned-{self.pk} of {self.program}"

    @property
    def beats_default(self) -> bool:
        return (
            self.status == self.Status.READY
            and self.auc is not None
            and self.default_auc is not None
            and self.auc > self.default_auc
        )
