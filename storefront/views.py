"""The embed script, the advocate widget and the demo shop (HTML and JS only)."""

from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from advocacy.models import Program
from core.csp import allow_framing_by
from core.errors import ServiceError
from recruitment import campaigns as recruitment_campaigns
from recruitment import selectors as recruitment_selectors
from referrals.placements import WIDGET
from storefront import demo

from . import demo_shop, selectors, services
from .embed import embed_script, embed_ui_script
from .signing import (
    WidgetSignatureError,
    event_token,
    viewer_for_email,
    widget_params,
)

# ---------------------------------------------------------------- embed script


@require_safe
def embed_js(request):
    """``/embed.js`` (short cache, revalidated by ETag) or ``/embed.js?v=<hash>`` (immutable)."""
    return _script(request, *embed_script())


@require_safe
def embed_ui_js(request):
    """``/embed-ui.js?v=<hash>``: the prompt and the lookup, loaded by embed.js on demand."""
    return _script(request, *embed_ui_script())


def _script(request, content: bytes, version: str):
    response = HttpResponse(content, content_type="application/javascript; charset=utf-8")
    response["ETag"] = f'"{version}"'
    if request.GET.get("v") == version:
        response["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response["Cache-Control"] = "public, max-age=300"
    # Lets merchants use crossorigin="anonymous" with Subresource Integrity.
    response["Access-Control-Allow-Origin"] = "*"
    return get_conditional_response(request, etag=response["ETag"], response=response)


# ---------------------------------------------------------------- advocate widget


@xframe_options_exempt
@require_GET
def widget(request, slug: str):
    """The advocate widget, framed on the merchant's page for a customer it signed."""
    program = Program.objects.filter(slug=slug).first()
    if program is None:
        return _widget_error(request, None, "This referral program does not exist.", 404)
    q = request.GET
    try:
        advocate = services.widget_open(
            program=program,
            email=q.get("email", ""),
            external_id=q.get("external_id") or None,
            name=q.get("name", ""),
            expires=q.get("expires", ""),
            sig=q.get("sig", ""),
        )
    except WidgetSignatureError as exc:
        return _widget_error(request, program, str(exc), 403)
    except ServiceError as exc:
        return _widget_error(request, program, exc.message, exc.status_code)
    viewer = viewer_for_email(program=program, email=advocate.email)
    services.placement_event_record(
        program=program, kind="impression", placement=WIDGET, viewer=viewer, advocate_id=advocate.pk
    )
    token = event_token(program=program, placement=WIDGET, viewer=viewer, advocate_id=advocate.pk)
    context = selectors.widget_context(advocate=advocate, event_token=token)
    # In-app invitation: a customer a recruitment campaign chose sees "you're invited".
    invitation = recruitment_selectors.in_app_invitation(advocate=advocate)
    if invitation is not None and recruitment_campaigns.recipient_seen_in_app(
        recipient_id=invitation.pk
    ):
        context["invitation"] = {"chosen": program.invitation_only or program.vip}
    return _widget_headers(render(request, "storefront/widget.html", context), program)


def _widget_error(request, program, reason: str, status: int):
    context = {"program": program, "reason": reason, "status": status}
    response = render(request, "storefront/widget_error.html", context, status=status)
    return _widget_headers(response, program)


def _widget_headers(response, program):
    if program is not None:
        # The site's policy, with the program's own sites allowed to frame it.
        allow_framing_by(response, program.redirect_hosts())
    # Personal and signed: never cached, and the URL (email, signature) never sent onwards.
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


# ---------------------------------------------------------------- demo shop


def _shop(request, template: str, context: dict | None = None, status: int = 200):
    demo_shop.require_demo_shop()
    shop = demo_shop.shop_for(request.session)
    if shop is None:
        return render(request, "storefront/shop_setup.html", status=503)
    base = {
        "shop": shop,
        "program": shop.program,
        "publishable_key": shop.publishable_key,
        "money_prefix": demo_shop.money_prefix(shop.program.currency),
        "embed_version": embed_script()[1],
        "products": demo_shop.PRODUCTS.values(),
        "demo_code": demo.DEMO_ADVOCATE_CODE,
    }
    return render(request, template, {**base, **(context or {})}, status=status)


@require_GET
def shop_home(request):
    return _shop(request, "storefront/shop_home.html")


@require_GET
def shop_product(request, slug: str):
    demo_shop.require_demo_shop()
    return _shop(request, "storefront/shop_product.html", {"product": demo_shop.product_get(slug)})


@require_http_methods(["GET", "POST"])
def shop_checkout(request, slug: str):
    """The cart: an email and the hidden referral inputs that embed.js fills."""
    demo_shop.require_demo_shop()
    product = demo_shop.product_get(slug)
    shop = demo_shop.shop_for(request.session)
    if request.method == "GET" or shop is None:
        return _shop(request, "storefront/shop_checkout.html", {"product": product})
    email = request.POST.get("email", "").strip()
    if not email:
        context = {"product": product, "error": "Enter an email address for the receipt."}
        return _shop(request, "storefront/shop_checkout.html", context, status=400)
    order_id = demo_shop.order_place(
        session=request.session,
        shop=shop,
        base_url=request.build_absolute_uri("/"),
        product=product,
        email=email,
        name=request.POST.get("name", "").strip()[:120],
        referral_code=request.POST.get("referral_code", "").strip(),
        click_id=request.POST.get("referral_click", "").strip(),
        placement=request.POST.get("referral_placement", "").strip(),
    )
    return redirect("storefront:shop-order", order_id=order_id)


@require_GET
def shop_order(request, order_id: str):
    """The order confirmation: the API's answer and the buyer's own referral widget."""
    demo_shop.require_demo_shop()
    order = demo_shop.order_get(session=request.session, order_id=order_id)
    shop = demo_shop.shop_for(request.session)
    if order is None or shop is None:
        return _shop(request, "storefront/shop_order_missing.html", status=404)
    program = shop.program
    params = widget_params(program=program, email=order["email"], name=order.get("name", ""))
    widget_url = reverse("storefront:widget", args=[program.slug]) + "?" + urlencode(params)
    context = {
        # What the shop's server signs for Advocacy.postPurchase: the same identity.
        "prompt_token": urlencode(params),
        "order_id": order_id,
        "order": order,
        "product": demo_shop.product_get(order["product"]),
        "answer": order.get("answer") or {},
        "widget_url": widget_url,
    }
    return _shop(request, "storefront/shop_order.html", context)


@require_http_methods(["GET", "POST"])
def shop_connect(request):
    """Run the demo shop on your own program: paste its two keys, as into a shop's plugin."""
    demo_shop.require_demo_shop()
    error = ""
    if request.method == "POST":
        if "disconnect" in request.POST:
            demo_shop.shop_disconnect(session=request.session)
            return redirect("storefront:shop-home")
        try:
            demo_shop.shop_connect(
                session=request.session,
                secret_key=request.POST.get("secret_key", ""),
                publishable_key=request.POST.get("publishable_key", ""),
            )
        except demo_shop.ConnectError as exc:
            error = str(exc)
        else:
            return redirect("storefront:shop-home")
    return _shop(
        request, "storefront/shop_connect.html", {"error": error}, status=400 if error else 200
    )
