"""The advocate portal: each page shows the signed-in user's own advocate record only."""

import contextlib
import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language as django_set_language

from advocacy import services as advocacy_services
from advocacy.models import Advocate, Program
from core.errors import ServiceError
from referrals.services import advocate_primary_link, referral_url
from rewards import catalog, payouts, stripe_gateway
from rewards.models import CatalogItem, PayoutAccount
from rewards.offers import offer_sentences

from . import selectors as ps


def home(request):
    """The user's programs (each linking to its dashboard), or an invitation to join."""
    memberships = ps.home_memberships(request.user) if request.user.is_authenticated else []
    return render(
        request,
        "portal/home.html",
        {
            "memberships": memberships,
            "open_programs": ps.open_programs(exclude_ids=[m["program"].pk for m in memberships]),
        },
    )


def _banned(request, advocate):
    """A banned advocate sees why and can do nothing else."""
    return render(request, "portal/banned.html", {"advocate": advocate}, status=403)


@login_required
@require_GET
def dashboard(request, slug: str):
    advocate = ps.advocate_for_user(request.user, slug)
    if ps.is_banned(advocate):
        return _banned(request, advocate)
    context = ps.dashboard(advocate=advocate, page=request.GET.get("page"))
    context.update(
        advocate=advocate,
        program=advocate.program,
        status_label=ps.ADVOCATE_STATUS_LABELS.get(advocate.status, advocate.status),
        section="dashboard",
    )
    return render(request, "portal/dashboard.html", context)


@login_required
@require_GET
def qr_download(request, slug: str, fmt: str = "svg"):
    advocate = ps.advocate_for_user(request.user, slug)
    if ps.is_banned(advocate):
        return _banned(request, advocate)
    url = referral_url(advocate_primary_link(advocate).code)
    if fmt == "png":
        response = HttpResponse(ps.qr_png(url), content_type="image/png")
    else:
        svg = '<?xml version="1.0" encoding="UTF-8"?>\n' + ps.qr_svg(url)
        response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    name = f"referral-{advocate.program.slug}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_GET
def rewards(request, slug: str):
    advocate = ps.advocate_for_user(request.user, slug)
    if ps.is_banned(advocate):
        return _banned(request, advocate)
    context = ps.rewards_page(advocate=advocate, page=request.GET.get("page"))
    for row in context["catalog"]:
        # A fresh key per form: submitting the same form twice redeems once.
        row["idempotency_key"] = uuid.uuid4()
    context.update(
        advocate=advocate,
        program=advocate.program,
        can_redeem=advocate.can_earn,
        section="rewards",
    )
    return render(request, "portal/rewards.html", context)


@login_required
@require_POST
def redeem(request, slug: str):
    advocate = ps.advocate_for_user(request.user, slug)
    if ps.is_banned(advocate):
        return _banned(request, advocate)
    try:
        key = uuid.UUID(request.POST.get("idempotency_key", ""))
        item_id = int(request.POST.get("item", ""))
    except ValueError:
        messages.error(request, _("Please try again."))
        return redirect("portal:rewards", slug=slug)
    item = CatalogItem.objects.filter(program_id=advocate.program_id, pk=item_id).first()
    if item is None:
        messages.error(request, _("This item is not in the catalog."))
        return redirect("portal:rewards", slug=slug)
    try:
        # Keys are scoped to the advocate: another user's key can never fetch this one's redemption.
        redemption = catalog.points_redeem(
            advocate=advocate, item=item, idempotency_key=f"portal:{advocate.pk}:{key}"
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("portal:rewards", slug=slug)
    if redemption.coupon_code:
        messages.success(
            request,
            _("You redeemed %(item)s. Your code: %(code)s")
            % {"item": item.name, "code": redemption.coupon_code},
        )
    else:
        messages.success(
            request,
            _("You redeemed %(item)s. We will be in touch to deliver it.") % {"item": item.name},
        )
    return redirect("portal:rewards", slug=slug)


@login_required
@require_GET
def about(request, slug: str):
    advocate = ps.advocate_for_user(request.user, slug)
    if ps.is_banned(advocate):
        return _banned(request, advocate)
    program = advocate.program
    return render(
        request,
        "portal/about.html",
        {
            "advocate": advocate,
            "program": program,
            "offer": offer_sentences(program=program),
            "faqs": list(program.faqs.all()),
            "accepted": advocate.terms_acceptances.first(),
            "section": "about",
        },
    )


@require_http_methods(["GET", "POST"])
def join(request, slug: str):
    program = get_object_or_404(Program, slug=slug)
    if not request.user.is_authenticated:
        # Invitations link here with ?email=: sign-up comes pre-filled, and the
        # invitation is claimed when that email address is verified.
        email = _email_param(request)
        if not email:
            return redirect_to_login(request.get_full_path())
        query = urlencode({"next": request.path, **email}, safe="/")
        return redirect(f"{reverse('account_signup')}?{query}")
    if request.method == "POST":
        try:
            advocacy_services.advocate_join(
                user=request.user,
                program=program,
                accepted_terms=request.POST.get("terms_version", ""),
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("portal:join", slug=slug)
        messages.success(request, _("Welcome! Your referral link is ready."))
        return redirect("portal:home")
    already = Advocate.objects.filter(
        program=program, user=request.user, status=Advocate.Status.ACTIVE
    ).exists()
    return render(
        request,
        "portal/join.html",
        {"program": program, "already": already, "offer": offer_sentences(program=program)},
    )


def _email_param(request) -> dict:
    email = request.GET.get("email", "")
    return {"email": email} if email and len(email) <= 254 else {}


def _own_advocate(request, slug: str) -> Advocate:
    """The signed-in user's advocate record in this program (never someone else's)."""
    return get_object_or_404(Advocate, program__slug=slug, user=request.user)


@login_required
@require_http_methods(["POST"])
def payout_setup(request, slug: str):
    """Start (or resume) Stripe's hosted onboarding for payouts."""
    advocate = _own_advocate(request, slug)
    if not stripe_gateway.enabled():
        messages.error(request, _("Payouts are not available yet: Stripe is not configured."))
        return redirect("portal:home")
    back = request.build_absolute_uri(reverse("portal:payout-return", args=[slug]))
    try:
        url = payouts.payout_account_onboarding_url(
            advocate=advocate,
            refresh_url=request.build_absolute_uri(reverse("portal:home")),
            return_url=back,
        )
    except stripe_gateway.stripe.StripeError:
        messages.error(request, _("Stripe could not be reached. Please try again in a minute."))
        return redirect("portal:home")
    return redirect(url)


@login_required
def payout_return(request, slug: str):
    advocate = _own_advocate(request, slug)
    account = PayoutAccount.objects.filter(advocate=advocate).first()
    if account and stripe_gateway.enabled():
        with contextlib.suppress(stripe_gateway.stripe.StripeError):
            payouts.payout_account_refresh(account=account)
        if account.payouts_enabled:
            messages.success(request, _("Your payout account is ready."))
        else:
            messages.info(request, _("Stripe still needs a few details before paying you."))
    return redirect("portal:home")


@require_http_methods(["POST"])
def set_language(request):
    """Django's language switch, also saved as the signed-in advocate's language."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and translation.check_for_language(language):
        advocacy_services.advocate_locale_set(user=request.user, locale=language)
    return response
