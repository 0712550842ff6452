"""Setting a program up in one page, and the program page's keys, snippet and preview."""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse

from advocacy.admin_scope import Role, has_role
from core.errors import ServiceError
from core.money import CURRENCY_CHOICES, MoneyError, to_minor
from rewards.stripe_gateway import enabled as stripe_enabled

from .. import services
from .money import DomainListField

SESSION_KEYS = "console_new_keys"


class ProgramSetupForm(forms.Form):
    """Every field has a default a first program can keep."""

    name = forms.CharField(max_length=120, help_text="What advocates see, e.g. “Acme Friends”.")
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="EUR")
    advocate_reward = forms.DecimalField(
        label="Advocate reward",
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=2,
        initial=Decimal("10.00"),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 10}),
        help_text="Cash the advocate earns when a friend makes a first purchase (0: none).",
    )
    friend_discount_percent = forms.IntegerField(
        label="Friend discount (%)",
        min_value=0,
        max_value=100,
        initial=10,
        help_text="The friend's discount on their first order, as a percentage (0: none).",
    )
    friend_coupon_source = forms.ChoiceField(
        label="Friend's coupon code",
        required=False,
        widget=forms.RadioSelect,
        initial=services.PERSONAL,
        choices=[
            (services.PERSONAL, "The advocate's personal code: your shop creates it when the "
             "advocate.enrolled webhook arrives (it carries the code)."),
            (services.STRIPE, "A single-use Stripe promotion code per friend (needs Stripe)."),
            (services.POOL, "Single-use codes from a pool: import codes your shop made (CSV)."),
        ],
        help_text="How the friend's discount is redeemed at your checkout; see the "
        "integration guide, “Friend coupons”.",
    )  # fmt: skip
    landing_url = forms.URLField(
        label="Landing URL",
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField", "size": 50}),
        help_text="Where a shared link takes the friend, e.g. https://shop.example.com/.",
    )
    allowed_domains = DomainListField(
        required=False,
        help_text="Your shop's other domains, one per line (the landing URL's is included).",
    )
    attribution_window_days = forms.IntegerField(
        label="Attribution window (days)",
        min_value=1,
        max_value=365,
        initial=30,
        help_text="A friend's first purchase this long after clicking still counts.",
    )
    hold_days = forms.IntegerField(
        label="Hold period (days)",
        min_value=0,
        max_value=365,
        initial=14,
        help_text="Rewards wait this long before they can be paid out (your return period).",
    )
    logo_url = forms.URLField(
        label="Logo URL",
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField", "size": 50}),
        help_text="Your logo, shown in the portal.",
    )
    brand_color = forms.RegexField(
        regex=r"^#[0-9a-fA-F]{6}$",
        required=False,
        initial="#1f6feb",
        widget=forms.TextInput(attrs={"type": "color"}),
        help_text="The portal's accent colour.",
    )

    def clean(self):
        data = super().clean()
        amount = data.get("advocate_reward")
        if amount is not None and data.get("currency"):
            try:
                data["advocate_reward_minor"] = to_minor(amount, data["currency"])
            except MoneyError as exc:
                self.add_error("advocate_reward", str(exc))
        data["friend_coupon_source"] = data.get("friend_coupon_source") or services.PERSONAL
        if data["friend_coupon_source"] == services.STRIPE and not stripe_enabled():
            self.add_error("friend_coupon_source", "Stripe is not configured (STRIPE_API_KEY).")
        if not data.get("advocate_reward") and not data.get("friend_discount_percent"):
            raise ValidationError("Give the advocate a reward, the friend a discount, or both.")
        return data


def setup_view(model_admin, request):
    """``/admin/advocacy/program/setup/``: the offer, links, windows and branding at once."""
    if not model_admin.has_add_permission(request):
        messages.error(request, "You may not create programs.")
        return redirect("admin:index")
    form = ProgramSetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            program, secret, publishable = services.program_setup(
                name=data["name"],
                landing_url=data["landing_url"],
                allowed_domains=data["allowed_domains"],
                currency=data["currency"],
                advocate_reward_minor=data["advocate_reward_minor"],
                friend_discount_percent=data["friend_discount_percent"],
                hold_days=data["hold_days"],
                attribution_window_days=data["attribution_window_days"],
                logo_url=data["logo_url"],
                brand_color=data["brand_color"],
                friend_coupon_source=data["friend_coupon_source"],
                actor=request.user,
            )
        except (ServiceError, ValidationError) as exc:
            form.add_error(None, getattr(exc, "message", None) or "; ".join(exc.messages))
        else:
            _show_keys_once(request, program, secret, publishable)
            messages.success(request, f"{program} is set up as a draft. Copy its keys now.")
            if data["friend_coupon_source"] == services.POOL:
                messages.info(request, "Import the friends' codes: Coupon pools → Friend codes.")
            return redirect("admin:advocacy_program_change", program.pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "form": form,
        "title": "Set up a program",
        "opts": model_admin.model._meta,
    }
    return render(request, "admin/console/program/setup.html", context)


def _show_keys_once(request, program, secret: str, publishable: str) -> None:
    # Shown once, on the program's page: only their hashes are stored.
    request.session[SESSION_KEYS] = {
        "program": program.pk,
        "secret": secret,
        "publishable": publishable,
    }


def program_create_with_keys(request, *, program, changed) -> None:
    """The classic add form: the program, then both its keys (shown once)."""
    secret, publishable = services.program_save_with_keys(
        program=program, actor=request.user, changed=changed
    )
    _show_keys_once(request, program, secret, publishable)


def embed_snippet(publishable: str) -> str:
    return f'<script src="{settings.SITE_URL}/embed.js" data-key="{publishable}" async></script>'


def program_page_context(request, program) -> dict:
    """The program page's panel: new keys (once), the embed snippet, preview and publish."""
    keys = request.session.get(SESSION_KEYS)
    if keys and keys.get("program") == program.pk:
        del request.session[SESSION_KEYS]
    else:
        keys = None
    publishable = keys["publishable"] if keys else "pk_…"
    return {
        "new_keys": keys,
        "embed_snippet": embed_snippet(publishable),
        "preview_url": reverse("admin:advocacy_program_preview", args=[program.pk]),
        "publish_url": reverse("admin:advocacy_program_publish", args=[program.pk]),
        "may_publish": has_role(request.user, program, Role.OWNER),
        "is_draft": not program.open_enrollment,
        # Where a manager tries the program in a pretend shop (development and demos only).
        "demo_shop_url": (
            reverse("storefront:shop-connect") if settings.DEBUG or settings.DEMO_SHOP else ""
        ),
    }


def program_publish(*, program, actor):
    return services.program_publish(program=program, actor=actor)


def preview_as_advocate(request, program):
    """Enroll the manager as an advocate of their program and open its portal page."""
    if not request.user.email:
        messages.error(request, "Add an email address to your user to preview as an advocate.")
        return redirect("admin:advocacy_program_change", program.pk)
    services.preview_advocate(program=program, user=request.user)
    return redirect(f"/p/{program.slug}/")
