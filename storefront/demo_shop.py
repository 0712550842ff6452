"""The demo shop: a pretend merchant that uses the platform like a real one would.

It loads ``/embed.js`` on its pages and, at checkout, reports the order to the
conversion API over HTTP with the demo secret key, exactly as a merchant's
server does (see docs/integration.md).
"""

import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from urllib.parse import urljoin

import requests
from django.conf import settings
from django.http import Http404

from advocacy.models import ApiKey, Program
from advocacy.services import api_key_authenticate
from storefront import demo

API_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Product:
    slug: str
    name: str
    price: str  # a decimal string in the shop's program's currency, as the API takes it
    blurb: str
    colour: str


PRODUCTS = {
    p.slug: p
    for p in [
        Product(
            "wool-beanie", "Wool beanie", "29.00", "Warm merino, knitted in Norway.", "#c2410c"
        ),
        Product(
            "ceramic-mug", "Ceramic mug", "14.90", "Holds a large coffee, hand glazed.", "#0f766e"
        ),
        Product(
            "canvas-tote", "Canvas tote", "19.50", "Heavy cotton canvas for the market.", "#4338ca"
        ),
    ]
}


def demo_shop_enabled() -> bool:
    return bool(settings.DEBUG or settings.DEMO_SHOP)


def require_demo_shop() -> None:
    """The demo shop exists only in development or when DEMO_SHOP is set."""
    if not demo_shop_enabled():
        raise Http404("The demo shop is off (DEBUG=0 and DEMO_SHOP unset).")


def demo_program() -> Program | None:
    return Program.objects.filter(slug=demo.DEMO_SLUG).first()


# ---------------------------------------------------------------- which program the shop runs

SESSION_KEYS = "demo_shop_keys"


@dataclass(frozen=True)
class Shop:
    """The program the demo shop reports to, and the two keys it uses, as a merchant's
    shop is configured with its program's keys."""

    program: Program
    secret_key: str
    publishable_key: str
    connected: bool  # True: a manager's own program; False: the seeded demo program


class ConnectError(ValueError):
    pass


def shop_for(session) -> Shop | None:
    """The program this browser connected the shop to, else the demo program."""
    keys = session.get(SESSION_KEYS)
    if keys:
        key = api_key_authenticate(keys.get("secret", ""))
        if key is not None and key.kind == ApiKey.Kind.SECRET:
            return Shop(key.program, keys["secret"], keys["publishable"], connected=True)
        session.pop(SESSION_KEYS, None)  # a key revoked since: back to the demo program
    program = demo_program()
    if program is None:
        return None
    return Shop(program, demo.DEMO_SECRET_KEY, demo.DEMO_PUBLISHABLE_KEY, connected=False)


def shop_connect(*, session, secret_key: str, publishable_key: str) -> Program:
    """Run the demo shop on a manager's own program, for this browser only.

    The keys are checked as the API checks them; they are kept in the server-side
    session of this browser and nowhere else."""
    secret = api_key_authenticate(secret_key.strip())
    if secret is None or secret.kind != ApiKey.Kind.SECRET:
        raise ConnectError("That is not an active secret key (it starts with sk_).")
    publishable = api_key_authenticate(publishable_key.strip())
    if publishable is None or publishable.kind != ApiKey.Kind.PUBLISHABLE:
        raise ConnectError("That is not an active publishable key (it starts with pk_).")
    if publishable.program_id != secret.program_id:
        raise ConnectError("The two keys belong to different programs.")
    session[SESSION_KEYS] = {
        "secret": secret_key.strip(),
        "publishable": publishable_key.strip(),
    }
    session.pop("demo_orders", None)  # receipts of the other program
    return secret.program


def money_prefix(currency: str) -> str:
    """How the shop writes a price's currency: "€29.00", "NOK 29.00"."""
    return {"EUR": "€", "USD": "$", "GBP": "£"}.get(currency, f"{currency} ")


def shop_disconnect(*, session) -> None:
    session.pop(SESSION_KEYS, None)
    session.pop("demo_orders", None)


def product_get(slug: str) -> Product:
    try:
        return PRODUCTS[slug]
    except KeyError:
        raise Http404("No such product.") from None


def new_order_id() -> str:
    return f"demo-{uuid.uuid4().hex[:12]}"


def order_report(
    *,
    base_url: str,
    secret_key: str,
    currency: str,
    order_id: str,
    product: Product,
    email: str,
    referral_code: str = "",
    click_id: str = "",
    placement: str = "",
    coupon_code: str = "",
) -> dict:
    """POST the order to the conversion API; returns ``{"status", "answer"}`` or ``{"error"}``."""
    body: dict = {
        "order_id": order_id,
        "amount": product.price,
        "currency": currency,
        "customer": {"email": email},
    }
    if referral_code:
        body["referral_code"] = referral_code
    if click_id:
        body["click_id"] = click_id
    if placement:
        body["placement"] = placement  # name_lookup: the buyer picked a friend by name
    if coupon_code:
        body["coupon_code"] = coupon_code
    try:
        response = requests.post(
            urljoin(base_url, "api/v1/conversions"),
            json=body,
            headers={
                "Authorization": f"Bearer {secret_key}",
                "Idempotency-Key": order_id,
            },
            timeout=API_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        return {"request": body, "error": f"The conversion API could not be reached: {exc}"}
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": {"message": response.text[:500]}}
    return {"request": body, "status": response.status_code, "answer": answer}


def friend_signup(
    *,
    base_url: str,
    secret_key: str,
    email: str,
    name: str = "",
    referral_code: str = "",
    click_id: str = "",
    placement: str = "",
):
    """A referred buyer: report the friend's sign-up (``POST /api/v1/referrals``), as a shop
    does at account creation or checkout; the answer carries the friend's discount."""
    if not (referral_code or click_id):
        return None
    body: dict = {"friend": {"email": email, "name": name}}
    if placement:
        body["placement"] = placement
    if click_id:
        body["click_id"] = click_id
    else:
        body["referral_code"] = referral_code
    try:
        response = requests.post(
            urljoin(base_url, "api/v1/referrals"),
            json=body,
            headers={"Authorization": f"Bearer {secret_key}"},
            timeout=API_TIMEOUT_SECONDS,
        )
        answer = response.json()
    except (requests.RequestException, ValueError):
        return None
    return answer.get("friend_reward") if response.ok else None


def discounted(price: str, friend_reward: dict | None) -> tuple[str, int]:
    """The price after the friend's percentage discount, and the percentage applied."""
    percent = (friend_reward or {}).get("percent_off") or 0
    if not percent:
        return price, 0
    cents = int(Decimal(price) * 100) * (100 - percent) // 100
    return f"{Decimal(cents) / 100:.2f}", percent


def order_place(
    *,
    session,
    shop: Shop,
    base_url: str,
    product: Product,
    email: str,
    name: str = "",
    **referral,
) -> str:
    """Report a new order and keep the API's answer in the buyer's session for the receipt.

    A referred buyer is a friend: they sign up first and pay the discounted price, with
    the friend's coupon code (which also attributes the order)."""
    order_id = new_order_id()
    key = shop.secret_key
    reward = friend_signup(base_url=base_url, secret_key=key, email=email, name=name, **referral)
    price, percent = discounted(product.price, reward)
    coupon = (reward or {}).get("coupon_code") or ""
    result = order_report(
        base_url=base_url,
        secret_key=key,
        currency=shop.program.currency,
        order_id=order_id,
        product=replace(product, price=price),
        email=email,
        coupon_code=coupon,
        **referral,
    )
    orders = session.get("demo_orders", {})
    orders[order_id] = {"product": product.slug, "email": email, "name": name, "paid": price,
                        "percent_off": percent, "coupon_code": coupon, **result}  # fmt: skip
    # Keep the session small: the last few orders are enough for a demo.
    session["demo_orders"] = dict(list(orders.items())[-5:])
    return order_id


def order_get(*, session, order_id: str) -> dict | None:
    return session.get("demo_orders", {}).get(order_id)
