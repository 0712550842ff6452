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
from core.rate_limits import rate_limit_hit
from nurture import selectors as nurture_selectors
from nurture import services as nurture_services
from nurture.models import Challenge, Suggestion, Upload
from referrals.placements import PORTAL
from referrals.services import advocate_primary_link, referral_url
from referrals.sharing import share_record
from rewards import catalog, payouts, stripe_gateway
from rewards.models import CatalogItem, PayoutAccount
from rewards.offers import offer_sentences

from . import selectors as ps
from .messages import nurture_messages


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


SHARES_PER_MINUTE = "30/m"
SHARE_CHANNELS = {"copy", "code", "native", "qr", "email", "whatsapp", "x", "facebook", "linkedin",
                  "sms", "telegram", "messenger"}  # fmt: skip


@login_required
@require_POST
def share_made(request, slug: str):
    """The dashboard's share buttons report a share (a placement event ``portal``)."""
    advocate = ps.advocate_for_user(request.user, slug)
    channel = request.POST.get("channel", "")
    if ps.is_banned(advocate) or channel not in SHARE_CHANNELS:
        return HttpResponse(status=400)
    usage = rate_limit_hit(
        request, group="portal-share", key=f"{advocate.pk}", rate=SHARES_PER_MINUTE
    )
    if usage.limited:
        return HttpResponse(status=429, headers={"Retry-After": str(usage.retry_after)})
    share_record(program=advocate.program, advocate=advocate, placement=PORTAL, channel=channel)
    return HttpResponse(status=204)


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
    context = ps.rewards_page(
        advocate=advocate,
        page=request.GET.get("page"),
        redemptions_page=request.GET.get("redemptions"),
        payouts_page=request.GET.get("payouts"),
    )
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
            "offer": offer_sentences(program=program, advocate=advocate),
            "faqs": list(program.faqs.all()),
            "accepted": advocate.terms_acceptances.first(),
            "advocate_of_the_month": nurture_selectors.advocate_of_the_month(program=program),
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
        {
            "program": program,
            "already": already,
            "offer": offer_sentences(program=program),
            "advocate_of_the_month": nurture_selectors.advocate_of_the_month(program=program),
            "testimonials": nurture_selectors.public_testimonials(
                program=program, featured_only=True, limit=3
            ),
        },
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


# ----------------------------------------------------------------- engagement (nurture)


def _active_advocate(request, slug: str):
    """The user's advocate here, or a response to return (banned)."""
    advocate = ps.advocate_for_user(request.user, slug)
    if ps.is_banned(advocate):
        return advocate, _banned(request, advocate)
    return advocate, None


@login_required
@require_GET
def club(request, slug: str):
    advocate, stop = _active_advocate(request, slug)
    if stop:
        return stop
    context = nurture_selectors.club(advocate=advocate)
    context.update(advocate=advocate, program=advocate.program, section="club")
    return render(request, "portal/club.html", context)


@login_required
@require_POST
def club_profile(request, slug: str):
    advocate, stop = _active_advocate(request, slug)
    if stop:
        return stop
    try:
        nurture_services.profile_update(
            advocate=advocate,
            leaderboard_opt_in=request.POST.get("leaderboard_opt_in") == "on",
            display_name=request.POST.get("display_name", ""),
        )
    except ServiceError as exc:
        messages.error(request, _service_message(exc))
    else:
        messages.success(request, _("Saved."))
    return redirect("portal:club", slug=slug)


def _service_message(exc: ServiceError) -> str:
    """The advocate-facing text of a nurture error, in their language."""
    return nurture_messages.get(exc.code, exc.message)


def _image(request, advocate, field: str):
    file = request.FILES.get(field)
    if not file:
        return None
    return nurture_services.upload_create(
        advocate=advocate,
        content_type=file.content_type or "",
        data=file.read(Upload.MAX_BYTES + 1),
    )


@login_required
@require_GET
def challenges(request, slug: str):
    advocate, stop = _active_advocate(request, slug)
    if stop:
        return stop
    return render(
        request,
        "portal/challenges.html",
        {
            "advocate": advocate,
            "program": advocate.program,
            "challenges": nurture_selectors.challenges(advocate=advocate),
            "testimonials": list(advocate.testimonials.order_by("-created_at")[:10]),
            "section": "challenges",
        },
    )


@login_required
@require_POST
def challenge_submit(request, slug: str, challenge_id: int):
    advocate, stop = _active_advocate(request, slug)
    if stop:
        return stop
    challenge = get_object_or_404(Challenge, pk=challenge_id, program_id=advocate.program_id)
    try:
        nurture_services.challenge_submit(
            advocate=advocate,
            challenge=challenge,
            proof_url=request.POST.get("proof_url", "")[:500],
            answer=request.POST.get("answer", "")[:4000],
            screenshot=_image(request, advocate, "screenshot"),
        )
    except ServiceError as exc:
        messages.error(request, _service_message(exc))
    else:
        messages.success(request, _("Thank you! We will check your entry soon."))
    return redirect("portal:challenges", slug=slug)


@login_required
@require_POST
def testimonial_submit(request, slug: str):
    advocate, stop = _active_advocate(request, slug)
    if stop:
        return stop
    try:
        rating = int(request.POST.get("rating", "0"))
    except ValueError:
        rating = 0
    try:
        nurture_services.testimonial_submit(
            advocate=advocate,
            text=request.POST.get("text", "")[:2000],
            rating=rating,
            consent_to_publish=request.POST.get("consent") == "on",
            display_name=request.POST.get("display_name", ""),
            photo=_image(request, advocate, "photo"),
        )
    except ServiceError as exc:
        messages.error(request, _service_message(exc))
    else:
        messages.success(request, _("Thank you for your testimonial!"))
    return redirect("portal:challenges", slug=slug)


@login_required
@require_GET
def ideas(request, slug: str):
    advocate, stop = _active_advocate(request, slug)
    if stop:
        return stop
    context = nurture_selectors.suggestions(advocate=advocate)
    context.update(advocate=advocate, program=advocate.program, section="ideas")
    return render(request, "portal/ideas.html", context)


@login_required
@require_POST
def idea_create(request, slug: str):
    advocate, stop = _active_advocate(request, slug)
    if stop:
        return stop
    try:
        nurture_services.suggestion_create(
            advocate=advocate,
            title=request.POST.get("title", ""),
            body=request.POST.get("body", "")[:4000],
        )
    except ServiceError as exc:
        messages.error(request, _service_message(exc))
    else:
        messages.success(request, _("Thank you! The team reads every idea."))
    return redirect("portal:ideas", slug=slug)


@login_required
@require_POST
def idea_vote(request, slug: str, suggestion_id: int):
    advocate, stop = _active_advocate(request, slug)
    if stop:
        return stop
    suggestion = get_object_or_404(Suggestion, pk=suggestion_id, program_id=advocate.program_id)
    nurture_services.suggestion_vote(advocate=advocate, suggestion=suggestion)
    return redirect("portal:ideas", slug=slug)
