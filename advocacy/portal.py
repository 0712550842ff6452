"""The advocate portal: each page shows the signed-in user's own advocate record only."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import portal_selectors as ps
from .errors import ServiceError


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
    context = ps.dashboard(advocate=advocate)
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
    from . import services

    advocate = ps.advocate_for_user(request.user, slug)
    if ps.is_banned(advocate):
        return _banned(request, advocate)
    url = services.referral_url(services.advocate_primary_link(advocate).code)
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
    context = ps.rewards_page(advocate=advocate)
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
    from rewards.catalog import points_redeem
    from rewards.models import CatalogItem

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
        redemption = points_redeem(
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
            "offer": ps.program_offer(program=program),
            "faqs": list(program.faqs.all()),
            "accepted": advocate.terms_acceptances.first(),
            "section": "about",
        },
    )
