import contextlib
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods
from kombu import Connection

from . import services
from .errors import ServiceError
from .models import Advocate, Program


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
            services.advocate_join(
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
    return render(request, "portal/join.html", {"program": program, "already": already})


def _email_param(request) -> dict:
    email = request.GET.get("email", "")
    return {"email": email} if email and len(email) <= 254 else {}


@require_GET
def healthz(request):
    """Database and broker status for load balancers; 503 when either is down."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    if settings.CELERY_BROKER_URL:
        try:
            with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"error: {exc.__class__.__name__}"
    else:
        checks["broker"] = "disabled (tasks run in-process)"
    healthy = all(v == "ok" or v.startswith("disabled") for v in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )


def _own_advocate(request, slug: str) -> Advocate:
    """The signed-in user's advocate record in this program (never someone else's)."""
    return get_object_or_404(Advocate, program__slug=slug, user=request.user)


@login_required
@require_http_methods(["POST"])
def payout_setup(request, slug: str):
    """Start (or resume) Stripe's hosted onboarding for payouts."""
    from rewards import payouts, stripe_gateway

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
    from rewards import payouts, stripe_gateway
    from rewards.models import PayoutAccount

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
    from django.views.i18n import set_language as django_set_language

    response = django_set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and translation.check_for_language(language):
        services.advocate_locale_set(user=request.user, locale=language)
    return response
