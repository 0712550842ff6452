"""Rollups, metrics, goals, reports and experiments: does the program pay?

Rollups are derived data: each row can be rebuilt from the raw rows
(clicks, referrals, conversions, rewards, advocates, invitations) at any
time, so late and duplicate events are harmless. A change to a raw row marks
its ``(program, day)`` in ``RollupMark`` in the same transaction; a Celery
task rebuilds the marked days and deletes the marks it has covered.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from advocacy.models import Advocate, Program
from referrals.models import Referral, ReferralLink


class RollupMark(models.Model):
    """A mark: "this program's day changed": appended by events, consumed by ``rollups_refresh``.

    Append-only (no hot row to lock): the refresh deletes only the marks it
    saw, so a change committed while it ran leaves a mark for the next run.
    """

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["program", "day"], name="rollupmark_program_day")]

    def __str__(self) -> str:
        return f"{self.program_id} {self.day}"


class DailyRollup(models.Model):
    """One program x day x advocate x channel x link: the day's counts and money.

    Rows without an advocate hold what belongs to no advocate (invitations).
    Money is in minor units of the program's currency (other currencies are
    left out, as in the metrics).
    """

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    advocate = models.ForeignKey(
        Advocate, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=30, blank=True)
    link = models.ForeignKey(
        ReferralLink, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    invited = models.PositiveIntegerField(default=0)
    joined = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    referrals = models.PositiveIntegerField(default=0)
    purchases = models.PositiveIntegerField(default=0)
    revenue_minor = models.BigIntegerField(default=0)
    reward_cost_minor = models.BigIntegerField(default=0)
    excluded_orders = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["program", "day"], name="dailyrollup_program_day")]

    def __str__(self) -> str:
        return f"{self.program_id} {self.day}"


class CustomerDayRollup(models.Model):
    """One customer's counted orders (program currency) on one day.

    The customer numbers (S, E, N, repeat purchases, CLV, K-factor, journey) are
    aggregates of these rows per customer, so a reader never touches the orders
    of finished days. ``first`` is the day's first order as a sortable text
    (``<occurred_at ISO>|<order pk>|<attributed 0/1>|<advocate id or 0>``): the
    smallest over a customer's days is their first order.
    """

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    key = models.CharField(max_length=254, help_text="External id, else normalised email.")
    orders = models.PositiveIntegerField()
    net_minor = models.BigIntegerField()
    first = models.CharField(max_length=80)

    class Meta:
        indexes = [
            models.Index(fields=["program", "day"], name="customerday_program_day"),
            models.Index(fields=["program", "key", "day"], name="customerday_program_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} on {self.day}"


class NpsDayRollup(models.Model):
    """One customer's last NPS answer of a day (their latest in a period is the latest day's).

    ``last`` sorts like ``first`` above (``<occurred_at ISO>|<answer pk>``); ``alt_key``
    is the linked customer profile's email, for segments matched by email.
    """

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    key = models.CharField(max_length=254)
    alt_key = models.CharField(max_length=254, blank=True)
    category = models.CharField(max_length=10)
    last = models.CharField(max_length=60)

    class Meta:
        indexes = [models.Index(fields=["program", "day"], name="npsday_program_day")]

    def __str__(self) -> str:
        return f"{self.key} on {self.day}"


class ProgramDayRollup(models.Model):
    """One program x day: the day's totals (its ``DailyRollup`` rows summed) and the day
    counts without an advocate/channel grain.

    ``activated``: advocates created that day whose status is ``active`` now (the
    journey's last stage); ``reviews``, ``testimonials``, ``other_submissions``:
    approved nurture items created that day. Periods and "everything before the end"
    (K-factor's advocates) are sums of these rows, one per day.
    """

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    invited = models.PositiveIntegerField(default=0)
    joined = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    referrals = models.PositiveIntegerField(default=0)
    purchases = models.PositiveIntegerField(default=0)
    revenue_minor = models.BigIntegerField(default=0)
    reward_cost_minor = models.BigIntegerField(default=0)
    excluded_orders = models.PositiveIntegerField(default=0)
    activated = models.PositiveIntegerField(default=0)
    reviews = models.PositiveIntegerField(default=0)
    testimonials = models.PositiveIntegerField(default=0)
    other_submissions = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "day"], name="programday_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.program_id} {self.day}"


class ReferralRollup(models.Model):
    """One referral (``day``: the day it was created) with its friend's outcome so far.

    ``converted_on``: the day of the referral's first attributed counted order;
    ``bought_on``: the first day with a counted order of the friend's customer key
    (``key``, as the journey matches it; empty without one), from ``CustomerDayRollup``.
    Rebuilding a day rebuilds the referrals created that day and updates, wherever
    they were created, the referrals with an order that day and the friends whose
    customer days changed, so both stay exact for late orders, refunds and duplicates.
    """

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    referral = models.OneToOneField(Referral, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=254, blank=True)
    converted_on = models.DateField(null=True, blank=True)
    bought_on = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["program", "day"], name="referralrollup_program_day"),
            models.Index(fields=["program", "key"], name="referralrollup_program_key"),
            models.Index(fields=["program", "converted_on"], name="referralrollup_converted"),
        ]

    def __str__(self) -> str:
        return f"{self.referral_id} on {self.day}"


class PlacementDayRollup(models.Model):
    """One program x day x placement x step: the day's count.

    Steps ``click``, ``referral`` and ``purchase`` have one row per placement (empty
    ``viewer``); ``impression`` and ``share`` one per viewer, so a period's unique
    impressions and sharers are distinct viewers over its days.
    """

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    placement = models.CharField(max_length=40, blank=True)
    step = models.CharField(max_length=12)
    viewer = models.CharField(max_length=64, blank=True)
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["program", "day"], name="placementday_program_day")]

    def __str__(self) -> str:
        return f"{self.placement} {self.step} on {self.day}"


class CohortRollup(models.Model):
    """Customers whose first order was in ``cohort`` (a month) and who ordered in ``month``."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    cohort = models.DateField(help_text="First day of the month of the customers' first order.")
    month = models.DateField(help_text="First day of the month counted.")
    customers = models.PositiveIntegerField(help_text="The cohort's size.")
    active = models.PositiveIntegerField(help_text="Cohort customers with an order this month.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "cohort", "month"], name="cohortrollup_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.program_id} {self.cohort:%Y-%m} in {self.month:%Y-%m}"


class Goal(models.Model):
    """A program goal: a metric over a (segment of) customers, a target and a deadline."""

    class Metric(models.TextChoices):
        NEW_REFERRED_CUSTOMERS = "new_referred_customers", "New customers from referrals"
        NEW_CUSTOMERS = "new_customers", "New customers"
        REFERRED_REVENUE = "referred_revenue", "Referred revenue"
        PURCHASES = "purchases", "Referred purchases"
        REFERRALS = "referrals", "Referrals"
        JOINED = "joined", "Advocates joined"
        NPS = "nps", "NPS"
        RETENTION_RATE = "retention_rate", "Retention rate (%)"
        REPEAT_PURCHASE_RATE = "repeat_purchase_rate", "Repeat purchase rate (%)"
        REFERRAL_CONVERSION_RATE = "referral_conversion_rate", "Referral conversion rate (%)"
        ROI = "roi", "ROI"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="goals")
    name = models.CharField(max_length=120)
    segment = models.ForeignKey(
        "recruitment.Segment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="goals",
        help_text="Measure only these customers (metrics about customers: NPS, retention, "
        "repeat purchases, new customers). Empty: all.",
    )
    metric = models.CharField(max_length=30, choices=Metric.choices)
    target = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="Money in the program's currency."
    )
    starts_on = models.DateField(default=timezone.localdate)
    deadline = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["deadline", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(deadline__gte=models.F("starts_on")),
                name="goal_deadline_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ReportSubscription(models.Model):
    """A manager's choice about the weekly report of one program (absent: subscribed)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    weekly_report = models.BooleanField(default=True)
    language = models.CharField(
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        help_text="The report's language. Empty: the site's language (LANGUAGE_CODE).",
    )
    last_sent_week = models.DateField(
        null=True, blank=True, help_text="Monday of the last week reported (claimed)."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "user"], name="reportsub_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.program_id}"


class Experiment(models.Model):
    """An A/B test of offers or share copy, with an optional holdout that gets no program."""

    class Kind(models.TextChoices):
        OFFER = "offer", "Offer (reward amount or kind)"
        SHARE_COPY = "share_copy", "Share copy"

    class Subject(models.TextChoices):
        ADVOCATE = "advocate", "Advocates"
        FRIEND = "friend", "Referred friends"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    subject = models.CharField(max_length=10, choices=Subject.choices, default=Subject.ADVOCATE)
    holdout_percent = models.PositiveSmallIntegerField(
        default=0, help_text="Share of subjects (0-50 %) who get no program, for incrementality."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    winner = models.ForeignKey(
        "measurement.Variant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(holdout_percent__lte=50), name="experiment_holdout_at_most_50"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    """One arm of an experiment; ``config`` says what differs (an amount, a text)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=120)
    config = models.JSONField(default=dict, blank=True)
    weight = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "key"], name="variant_unique_key"),
        ]

    def __str__(self) -> str:
        return self.name


class Assignment(models.Model):
    """Which arm a subject is in, fixed at first sight (sticky). No variant: the holdout."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    subject_key = models.CharField(max_length=254, help_text="Advocate id or friend's email/id.")
    advocate = models.ForeignKey(
        Advocate, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    variant = models.ForeignKey(
        Variant, on_delete=models.CASCADE, null=True, blank=True, related_name="assignments"
    )
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "subject_key"], name="assignment_unique_subject"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_key} in {self.variant or 'holdout'}"
