"""Programs, the managers who run them, their API keys, and advocates."""

import hashlib
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.money import CURRENCY_CHOICES

# Crockford-style alphabet without look-alikes (no 0/O, 1/I/L, U).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_widget_secret() -> str:
    return "ws_" + secrets.token_urlsafe(32)


def random_code(length: int = 8) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


class Program(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ARCHIVED = "archived", "Archived"

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    landing_url = models.URLField(max_length=500)
    allowed_domains = models.JSONField(
        default=list,
        blank=True,
        help_text="Domains that ?to= may redirect to and the embed script may run on "
        "(subdomains included). The landing URL's host is always allowed.",
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="EUR")
    attribution_window_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    hold_days = models.PositiveIntegerField(
        default=14,
        validators=[MaxValueValidator(365)],
        help_text="Days a reward stays pending before it becomes available.",
    )
    monthly_budget_minor = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Most cash rewards (minor units, program currency) issued per calendar "
        "month; empty for no limit.",
    )
    min_payout_minor = models.BigIntegerField(
        default=2000, help_text="Available cash below this is not paid out yet."
    )
    payout_approval_above_minor = models.BigIntegerField(
        null=True, blank=True, help_text="Payouts above this wait for a manager's approval."
    )
    stripe_webhook_secret = models.CharField(
        max_length=200, blank=True, help_text="Signing secret of this program's Stripe webhook."
    )
    logo_url = models.URLField(
        max_length=500, blank=True, help_text="The program's logo, shown in the portal."
    )
    brand_color = models.CharField(
        max_length=7,
        blank=True,
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour like #1f6feb.")],
        help_text="The portal's accent colour for this program, e.g. #1f6feb.",
    )
    terms = models.TextField(blank=True, help_text="The program's terms, shown to advocates.")
    terms_version = models.CharField(
        max_length=40,
        blank=True,
        help_text="Change it when the terms change: advocates joining accept this version.",
    )
    widget_secret = models.CharField(
        max_length=64,
        default=new_widget_secret,
        help_text="The merchant's server signs a customer's identity with this "
        "(HMAC-SHA256) to open the advocate widget for them.",
    )
    open_enrollment = models.BooleanField(
        default=True, help_text="Anyone with an account can join from the portal."
    )
    invitation_only = models.BooleanField(
        default=False,
        help_text="Only invited customers can join (invitations from campaigns or the admin).",
    )
    vip = models.BooleanField(
        default=False,
        help_text="A VIP program: invitations and the portal tell members they were chosen.",
    )
    prompt_every_days = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="The post-purchase share prompt shows at most once per buyer in this many days.",
    )
    churn_after_days = models.PositiveIntegerField(
        default=365,
        validators=[MinValueValidator(1)],
        help_text="A customer without an order in this many days counts as churned (metrics).",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(monthly_budget_minor__isnull=True) | Q(monthly_budget_minor__gte=0),
                name="program_budget_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(min_payout_minor__gte=0), name="program_min_payout_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(brand_color="") | Q(brand_color__regex=r"^#[0-9a-fA-F]{6}$"),
                name="program_brand_color_hex",
            ),
            models.CheckConstraint(
                condition=Q(attribution_window_days__gte=1), name="program_window_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def redirect_hosts(self) -> set[str]:
        hosts = {d.lower().strip(".") for d in self.allowed_domains if d}
        landing_host = urlsplit(self.landing_url).hostname
        if landing_host:
            hosts.add(landing_host.lower())
        return hosts

    def allows_host(self, host: str | None) -> bool:
        """True when ``host`` is an allowed domain or one of its subdomains."""
        if not host:
            return False
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.redirect_hosts())


class ProgramMembership(models.Model):
    """A program manager's access to a program in the admin."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MANAGER = "manager", "Manager"
        VIEWER = "viewer", "Viewer"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="program_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MANAGER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.program}"


def hash_key(raw: str) -> str:
    # Keys are 190+ bits of randomness, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(raw.encode()).hexdigest()


def default_api_key_scopes() -> list[str]:
    return ["full"]


class ApiKey(models.Model):
    class Kind(models.TextChoices):
        SECRET = "secret", "Secret (server side)"
        PUBLISHABLE = "publishable", "Publishable (browser)"

    PREFIXES = {Kind.SECRET: "sk_", Kind.PUBLISHABLE: "pk_"}

    class Scope(models.TextChoices):
        """What a secret key may do (docs/integration.md, "API keys")."""

        FULL = "full", "Full access"
        READ = "read", "Read (every GET)"
        ADVOCATES_WRITE = "advocates:write", "Enrol advocates"
        REFERRALS_WRITE = "referrals:write", "Record referred friends"
        CONVERSIONS_WRITE = "conversions:write", "Record orders and refunds"
        ACTIONS = "actions", "Everything else that changes data"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="api_keys")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    name = models.CharField(max_length=80, blank=True)
    prefix = models.CharField(max_length=16, help_text="First characters, to recognise a key.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(
        default=default_api_key_scopes,
        help_text="What a secret key may do; publishable keys only ever do what a browser does.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the key was rotated: it works until then."
    )
    replaced_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replaces"
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.get_kind_display()})"

    @classmethod
    def generate_raw(cls, kind: str) -> str:
        return cls.PREFIXES[kind] + secrets.token_urlsafe(32).replace("-", "x").replace("_", "y")

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def allows(self, scope: str) -> bool:
        """Whether this key may act in ``scope`` (publishable keys: their endpoints decide)."""
        return self.kind == self.Kind.PUBLISHABLE or bool(
            {self.Scope.FULL, scope} & set(self.scopes or ())
        )


class Advocate(models.Model):
    class Status(models.TextChoices):
        INVITED = "invited", "Invited"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        BANNED = "banned", "Banned"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="advocates")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="advocates",
    )
    email = models.EmailField(max_length=254)
    email_normalized = models.CharField(max_length=254, editable=False)
    name = models.CharField(max_length=120, blank=True)
    external_id = models.CharField(max_length=120, null=True, blank=True)
    locale = models.CharField(max_length=10, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    coupon_code = models.CharField(
        max_length=40, null=True, blank=True, help_text="Personal coupon code, unique per program."
    )
    invitation_sent_at = models.DateTimeField(null=True, blank=True)
    findable = models.BooleanField(
        default=False,
        help_text="The advocate agreed that friends may find them by name at checkout "
        "(shown as first name and last initial).",
    )
    city = models.CharField(max_length=80, blank=True)
    findable_show_city = models.BooleanField(
        default=False, help_text="Show the city beside the name when friends look them up."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "email_normalized"], name="advocate_unique_email"
            ),
            models.UniqueConstraint(
                fields=["program", "external_id"],
                condition=Q(external_id__isnull=False),
                name="advocate_unique_external_id",
            ),
            models.UniqueConstraint(
                fields=["program", "coupon_code"],
                condition=Q(coupon_code__isnull=False),
                name="advocate_unique_coupon",
            ),
            models.UniqueConstraint(
                fields=["program", "user"],
                condition=Q(user__isnull=False),
                name="advocate_unique_user",
            ),
        ]
        indexes = [
            models.Index(fields=["program", "status"]),
            # A day's sign-ups and invitations (the live day's reads, each day's rebuild).
            models.Index(fields=["program", "created_at"], name="advocate_program_created"),
            models.Index(fields=["program", "invitation_sent_at"], name="advocate_program_invited"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def can_earn(self) -> bool:
        return self.status == self.Status.ACTIVE


class AuditAction(models.TextChoices):
    """Every action the audit log records (stored as the dotted value)."""

    PROGRAM_CREATED = "program.created", "Program created"
    PROGRAM_UPDATED = "program.updated", "Program updated"
    MEMBERSHIP_CHANGED = "membership.changed", "Manager access changed"
    API_KEY_CREATED = "api_key.created", "API key created"
    API_KEY_RENAMED = "api_key.renamed", "API key renamed"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    API_KEY_ROTATED = "api_key.rotated", "API key rotated"
    API_KEY_SCOPES_CHANGED = "api_key.scopes_changed", "API key scopes changed"
    ADVOCATE_ENROLLED = "advocate.enrolled", "Advocate enrolled"
    ADVOCATE_JOINED = "advocate.joined", "Advocate joined"
    ADVOCATE_UPDATED = "advocate.updated", "Advocate updated"
    ADVOCATE_STATUS_CHANGED = "advocate.status_changed", "Advocate status changed"
    ADVOCATE_ERASED = "advocate.erased", "Advocate's personal data erased"
    ADVOCATE_EMAIL_PREFERENCES = "advocate.email_preferences", "Email preferences changed"
    ADVOCATE_UNSUBSCRIBED = "advocate.unsubscribed", "Unsubscribed from all emails"
    TERMS_ACCEPTED = "terms.accepted", "Terms accepted"
    REFERRAL_LINK_CREATED = "referral_link.created", "Referral link created"
    REFERRAL_LINK_UPDATED = "referral_link.updated", "Referral link updated"
    REFERRAL_CREATED = "referral.created", "Referral recorded"
    CONVERSION_RECORDED = "conversion.recorded", "Conversion recorded"
    CONVERSION_REFUNDED = "conversion.refunded", "Conversion refunded"
    CONVERSION_SELF_REFERRAL = "conversion.self_referral", "Self-referral found after payment"
    CONVERSION_ATTRIBUTION_OVERRIDDEN = (
        "conversion.attribution_overridden",
        "Conversion attributed by a manager",
    )
    REWARD_RULE_CREATED = "reward_rule.created", "Reward rule created"
    REWARD_RULE_UPDATED = "reward_rule.updated", "Reward rule updated"
    REWARD_ISSUED = "reward.issued", "Reward issued"
    REWARD_CODE_ISSUED = "reward.code_issued", "Coupon code issued"
    REWARD_MATURED = "reward.matured", "Reward became available"
    REWARD_REVERSED = "reward.reversed", "Reward reversed"
    REWARD_APPROVED = "reward.approved", "Reward approved"
    REWARD_HELD = "reward.held", "Reward held for review"
    REWARD_FULFILLED = "reward.fulfilled", "Perk fulfilled"
    LEDGER_ADJUSTED = "ledger.adjusted", "Balance adjusted"
    COUPON_POOL_CREATED = "coupon_pool.created", "Coupon pool created"
    COUPON_POOL_UPDATED = "coupon_pool.updated", "Coupon pool updated"
    COUPON_POOL_IMPORTED = "coupon_pool.imported", "Coupon codes imported"
    CATALOG_ITEM_CREATED = "catalog_item.created", "Catalog item created"
    CATALOG_ITEM_UPDATED = "catalog_item.updated", "Catalog item updated"
    PERK_CREATED = "perk.created", "Perk created"
    PERK_UPDATED = "perk.updated", "Perk updated"
    POINTS_REDEEMED = "points.redeemed", "Points redeemed"
    REDEMPTION_FULFILLED = "redemption.fulfilled", "Redemption fulfilled"
    REDEMPTION_CANCELLED = "redemption.cancelled", "Redemption cancelled"
    PAYOUT_ACCOUNT_CREATED = "payout_account.created", "Payout account created"
    PAYOUT_CREATED = "payout.created", "Payout created"
    PAYOUT_APPROVED = "payout.approved", "Payout approved"
    PAYOUT_RETRIED = "payout.retried", "Payout resent"
    PAYOUT_PAID = "payout.paid", "Payout paid"
    PAYOUT_FAILED = "payout.failed", "Payout failed"
    FRAUD_FLAGGED = "fraud.flagged", "Flagged by the fraud rules"
    FRAUD_BLOCKED = "fraud.blocked", "Blocked by the fraud rules"
    FRAUD_REVIEWED = "fraud.reviewed", "Fraud review decided"
    PAYOUT_REVERSED = "payout.reversed", "Payout reversed"
    PAYOUT_TRANSFER_AFTER_CLOSE = "payout.transfer_after_close", "Transfer found after close"
    WEBHOOK_ENDPOINT_CREATED = "webhook_endpoint.created", "Webhook endpoint created"
    WEBHOOK_ENDPOINT_UPDATED = "webhook_endpoint.updated", "Webhook endpoint updated"
    WEBHOOK_ENDPOINT_SECRET_ROTATED = "webhook_endpoint.secret_rotated", "Webhook secret rotated"
    WEBHOOK_DELIVERY_RESENT = "webhook_delivery.resent", "Webhook delivery resent"
    # Nurture (tiers, challenges, testimonials, recognition, feedback, news).
    TIER_CHANGED = "nurture.tier_changed", "VIP tier changed"
    SUBMISSION_CREATED = "nurture.submission_created", "Challenge entry sent"
    SUBMISSION_APPROVED = "nurture.submission_approved", "Challenge entry approved"
    SUBMISSION_REJECTED = "nurture.submission_rejected", "Challenge entry rejected"
    TESTIMONIAL_CREATED = "nurture.testimonial_created", "Testimonial written"
    TESTIMONIAL_APPROVED = "nurture.testimonial_approved", "Testimonial approved"
    TESTIMONIAL_REJECTED = "nurture.testimonial_rejected", "Testimonial rejected"
    TESTIMONIAL_FEATURED = "nurture.testimonial_featured", "Testimonial featured or unfeatured"
    BADGE_AWARDED = "nurture.badge_awarded", "Badge awarded"
    SUGGESTION_CREATED = "nurture.suggestion_created", "Suggestion made"
    SUGGESTION_ANSWERED = "nurture.suggestion_answered", "Suggestion answered"
    NEWS_SENT = "nurture.news_sent", "Program news sent"
    PROFILE_UPDATED = "nurture.profile_updated", "Leaderboard profile changed"
    SEGMENT_CREATED = "segment.created", "Segment created"
    SEGMENT_UPDATED = "segment.updated", "Segment changed"
    CAMPAIGN_CREATED = "campaign.created", "Invitation campaign created"
    CAMPAIGN_STEP_STARTED = "campaign.step_started", "Campaign step sending"
    RECRUITMENT_SETTINGS_UPDATED = "recruitment_settings.updated", "Recruitment settings changed"
    IMPORT_CHECKED = "import.checked", "Import file checked"
    IMPORT_STARTED = "import.started", "Import started"
    IMPORT_FINISHED = "import.finished", "Import finished"
    IMPORT_RETRIED = "import.retried", "Interrupted import retried"
    ADVOCATE_MODEL_REQUESTED = "advocate_model.requested", "Advocate model training requested"
    CUSTOMER_EMAIL_BOUNCED = "customer.email_bounced", "Customer's email address undeliverable"


class AuditLog(models.Model):
    """One row beside every state change that matters (money, keys, statuses)."""

    program = models.ForeignKey(
        Program, on_delete=models.CASCADE, null=True, blank=True, related_name="audit_logs"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    action = models.CharField(max_length=60, choices=AuditAction.choices, db_index=True)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=60)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}#{self.object_id}"


class Notification(models.Model):
    """An email to an advocate, recorded so a retried task never sends it twice."""

    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)
    key = models.CharField(max_length=120, unique=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it until then (or crashed)."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.key


class ProgramFAQ(models.Model):
    """A question and answer the program's managers write for advocates."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="faqs")
    question = models.CharField(max_length=200)
    answer = models.TextField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["program", "position", "pk"]
        verbose_name = "FAQ"

    def __str__(self) -> str:
        return self.question


class TermsAcceptance(models.Model):
    """An advocate's consent to one version of the program's terms, and when."""

    advocate = models.ForeignKey(
        Advocate, on_delete=models.CASCADE, related_name="terms_acceptances"
    )
    version = models.CharField(max_length=40)
    accepted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-accepted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["advocate", "version"], name="terms_acceptance_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.advocate} accepted {self.version}"


class ShareMessage(models.Model):
    """The text a program suggests advocates send, per channel and language.

    The referral link is added after the text. Empty channel or language means
    "any"; the most specific message wins, then the built-in default.
    """

    class Channel(models.TextChoices):
        ANY = "", "Any channel"
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        WHATSAPP = "whatsapp", "WhatsApp"
        X = "x", "X"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="share_messages")
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    language = models.CharField(
        max_length=10, choices=settings.LANGUAGES, blank=True, help_text="Empty: any language."
    )
    text = models.CharField(max_length=280)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "channel", "language"], name="share_message_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.text


class EmailPreference(models.Model):
    """One row per advocate, created on first change; no row means the defaults."""

    advocate = models.OneToOneField(
        Advocate, on_delete=models.CASCADE, related_name="email_preference"
    )
    rewards_and_payouts = models.BooleanField(default=True)
    program_news = models.BooleanField(default=True)
    unsubscribed_all_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Created by the privacy app; the table keeps its name.
        db_table = "privacy_emailpreference"

    def __str__(self) -> str:
        return f"email preferences of advocate {self.advocate_id}"
