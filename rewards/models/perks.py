"""Perks a program grants besides money and points: early access to a drop or a sale."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from advocacy.models import Program


class Perk(models.Model):
    """Something an advocate may use, delivered with a link or a code, often for a
    limited time (e.g. early access to a product drop before everyone else).

    Tiers, challenges, catalog items (and any other part of the platform) grant it
    through ``rewards.perks.perk_grant``: a perk reward the advocate sees in the
    portal and receives by email.
    """

    class Kind(models.TextChoices):
        EARLY_ACCESS = "early_access", _("Early access")
        OTHER = "other", _("Other perk")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="perks")
    kind = models.CharField(
        _("kind"), max_length=15, choices=Kind.choices, default=Kind.EARLY_ACCESS
    )
    name = models.CharField(_("name"), max_length=120)
    description = models.CharField(_("description"), max_length=300, blank=True)
    url = models.URLField(
        _("link"), max_length=500, blank=True, help_text=_("Where the advocate uses the perk.")
    )
    code = models.CharField(
        _("code"), max_length=60, blank=True, help_text=_("An access or discount code, if any.")
    )
    starts_at = models.DateTimeField(
        _("starts"), null=True, blank=True, help_text=_("Empty: usable at once.")
    )
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True, help_text=_("Empty: no end."))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["program", "-created_at"]
        verbose_name = _("perk")
        verbose_name_plural = _("perks")
        constraints = [
            models.CheckConstraint(condition=~Q(url="") | ~Q(code=""), name="perk_has_url_or_code"),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(ends_at__gt=F("starts_at")),
                name="perk_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def state(self, now=None) -> str:
        """ "upcoming", "open" or "ended" at ``now``."""
        now = now or timezone.now()
        if self.starts_at and now < self.starts_at:
            return "upcoming"
        if self.ends_at and now >= self.ends_at:
            return "ended"
        return "open"
