"""The fraud signals: each looks at one referral (and its order, when there is one).

A check returns a short reason when its signal fires, else None. ``SIGNALS`` holds
each one's default action, weight in the risk score and threshold; a program's
``FraudRule`` rows override action and threshold. docs/fraud.md explains each.
"""

import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from django.conf import settings
from django.db import connection
from django.db.models import Q

from advocacy.models import Advocate
from referrals.models import Click, Conversion, Referral
from referrals.placements import NAME_LOOKUP

_REFERRALS, _CONVERSIONS = Referral._meta.db_table, Conversion._meta.db_table

# The signals that read ``Facts.activity``; with none of them active, no statement.
ACTIVITY_SIGNALS = frozenset({"velocity_advocate", "refund_rate", "existing_customer"})


@dataclass(frozen=True)
class Facts:
    referral: Referral
    advocate: Advocate
    click: Click | None
    conversion: Conversion | None = None
    # The signals evaluated (their action is not ``ignore``): what ``activity`` reads.
    signals: frozenset = ACTIVITY_SIGNALS

    @cached_property
    def activity(self) -> dict:
        """The counts the advocate's and the friend's signals ask, read together in one
        statement: the advocate's sign-ups in the day up to this referral
        (``signups_day``), their referred orders (``orders``) and those refunded
        (``refunded``), and whether the friend had an order before the referral
        (``earlier_order``). Plain SQL: the ORM spent more CPU composing this statement
        than PostgreSQL does running it."""
        referral, advocate_id = self.referral, self.advocate.pk
        adapt = connection.ops.adapt_datetimefield_value
        created_at = adapt(referral.created_at)
        since = adapt(referral.created_at - timedelta(days=1))
        mine = {
            "customer_email_normalized": referral.friend_email_normalized,
            "customer_external_id": referral.friend_external_id,
        }
        mine = {column: value for column, value in mine.items() if value}
        earlier = "existing_customer" in self.signals and bool(mine)
        exists, exists_params = "", []
        if earlier:
            exists = (
                f", EXISTS (SELECT 1 FROM {_CONVERSIONS}"  # noqa: S608 - fixed names
                f" WHERE ({' OR '.join(f'{column} = %s' for column in mine)})"
                " AND program_id = %s AND occurred_at < %s"
                + (" AND id <> %s" if self.conversion is not None else "")
                + ")"
            )
            exists_params = [*mine.values(), referral.program_id, created_at]
            if self.conversion is not None:
                exists_params.append(self.conversion.pk)
        sql = (
            f"SELECT s.n, o.n, o.refunded{exists}"  # noqa: S608 - fixed names
            f" FROM (SELECT COUNT(*) AS n FROM {_REFERRALS}"
            "  WHERE advocate_id = %s AND created_at >= %s AND created_at <= %s) s,"
            " (SELECT COUNT(*) AS n, COUNT(CASE WHEN refunded_minor > 0 THEN 1 END) AS refunded"
            f"  FROM {_CONVERSIONS} WHERE advocate_id = %s AND attributed = %s) o"
        )
        params = [*exists_params, advocate_id, since, created_at, advocate_id, True]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return {
            "signups_day": row[0],
            "orders": row[1],
            "refunded": row[2] or 0,
            "earlier_order": bool(row[3]) if earlier else False,
        }


@dataclass(frozen=True)
class Signal:
    name: str
    action: str  # the default: block, flag or ignore
    weight: int  # points of the 0-100 risk score
    threshold: int | None
    check: object  # (facts, threshold) -> str | None
    description: str


def _folded(text: str) -> str:
    """Lower case, accents and punctuation dropped, spaces squeezed: 'Ana-María' ~ 'ana maria'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.split())


def self_email(facts: Facts, threshold) -> str | None:
    friend = facts.referral.friend_email_normalized
    if friend and friend == facts.advocate.email_normalized:
        return "the friend's email is the advocate's own"
    return None


def self_customer_id(facts: Facts, threshold) -> str | None:
    friend = facts.referral.friend_external_id
    if friend and friend == facts.advocate.external_id:
        return "the friend's customer id is the advocate's own"
    buyer = facts.conversion.customer_external_id if facts.conversion else ""
    if buyer and buyer == facts.advocate.external_id:
        return "the buyer's customer id is the advocate's own"
    return None


def self_name(facts: Facts, threshold) -> str | None:
    friend, advocate = _folded(facts.referral.friend_name), _folded(facts.advocate.name)
    if len(friend.split()) >= 2 and friend == advocate:
        return "the friend has the advocate's full name"
    return None


def same_device(facts: Facts, threshold) -> str | None:
    """Several 'friends' of one advocate came from one address with one browser."""
    click = facts.click
    if click is None or not click.ip_hash:
        return None
    others = (
        Referral.objects.filter(
            advocate=facts.advocate,
            click__ip_hash=click.ip_hash,
            click__user_agent=click.user_agent,
        )
        .exclude(pk=facts.referral.pk)
        .count()
    )
    if others >= threshold:
        return f"{others} other friends of this advocate used the same device and address"
    return None


def same_card(facts: Facts, threshold) -> str | None:
    conversion = facts.conversion
    if conversion is None or not conversion.payment_fingerprint:
        return None
    own = Q(customer_email_normalized=facts.advocate.email_normalized)
    if facts.advocate.external_id:
        own |= Q(customer_external_id=facts.advocate.external_id)
    paid_before = (
        Conversion.objects.filter(program_id=conversion.program_id)
        .filter(own)
        .filter(payment_fingerprint=conversion.payment_fingerprint)
        .exclude(pk=conversion.pk)
        .exists()
    )
    if paid_before:
        return "paid with a card the advocate has paid with"
    return None


def existing_customer(facts: Facts, threshold) -> str | None:
    """The 'friend' had bought before they were referred: nobody new was brought in."""
    if facts.activity["earlier_order"]:
        return "the friend was already a customer before the referral"
    return None


def velocity_ip(facts: Facts, threshold) -> str | None:
    """Many sign-ups from one address within an hour."""
    click = facts.click
    if click is None or not click.ip_hash:
        return None
    since = facts.referral.created_at - timedelta(hours=1)
    count = Referral.objects.filter(
        program_id=facts.referral.program_id,
        click__ip_hash=click.ip_hash,
        created_at__gte=since,
        created_at__lte=facts.referral.created_at,
    ).count()
    if count >= threshold:
        return f"{count} sign-ups from one address within an hour"
    return None


def velocity_advocate(facts: Facts, threshold) -> str | None:
    """Many sign-ups for one advocate within a day."""
    count = facts.activity["signups_day"]
    if count >= threshold:
        return f"{count} sign-ups for this advocate within a day"
    return None


def disposable_email(facts: Facts, threshold) -> str | None:
    email = facts.referral.friend_email_normalized or (
        facts.conversion.customer_email_normalized if facts.conversion else ""
    )
    domain = email.rpartition("@")[2]
    if domain and domain in DISPOSABLE_DOMAINS:
        return f"a disposable email domain ({domain})"
    return None


def refund_rate(facts: Facts, threshold) -> str | None:
    """Most of the advocate's referred orders were refunded (threshold: percent)."""
    total, refunded = facts.activity["orders"], facts.activity["refunded"]
    if total >= 3 and refunded * 100 >= threshold * total:
        return f"{refunded} of the advocate's {total} referred orders refunded"
    return None


def _on_list(host: str, domains) -> str | None:
    """The listed domain ``host`` is, or is a subdomain of (``www.x.com`` is ``x.com``)."""
    host = host.lower().rstrip(".")
    for domain in domains:
        domain = domain.lower().strip().lstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return domain
    return None


def coupon_site(facts: Facts, threshold) -> str | None:
    """The friend followed the link from a coupon or deal site (``FRAUD_COUPON_SITES``):
    the "friend" was hunting a discount, nobody recommended the shop to them."""
    host = facts.click.referrer_host if facts.click is not None else ""
    if host and (domain := _on_list(host, settings.FRAUD_COUPON_SITES)):
        return f"the link was clicked on a coupon site ({domain})"
    return None


def name_lookup_family(facts: Facts, threshold) -> str | None:
    """A friend who picked the advocate by name at checkout shares their surname and
    email domain: likely the advocate's own household rather than a friend they told."""
    referral = facts.referral
    if referral.placement != NAME_LOOKUP and not (
        facts.conversion is not None
        and facts.conversion.attribution_method == Conversion.Method.NAME_LOOKUP
    ):
        return None
    friend, advocate = _folded(referral.friend_name).split(), _folded(facts.advocate.name).split()
    if len(friend) < 2 or len(advocate) < 2 or friend[-1] != advocate[-1]:
        return None
    email = referral.friend_email_normalized or (
        facts.conversion.customer_email_normalized if facts.conversion else ""
    )
    domain = email.rpartition("@")[2]
    if domain and domain == facts.advocate.email_normalized.rpartition("@")[2]:
        return f"picked by name, with the advocate's surname and email domain ({domain})"
    return None


SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in (
        Signal(
            "self_email", "block", 100, None, self_email,
            "The friend's email is the advocate's own, compared without case, +tags or "
            "Gmail dots.",
        ),
        Signal(
            "self_customer_id", "block", 100, None, self_customer_id,
            "The friend's or buyer's customer id is the advocate's own.",
        ),
        Signal(
            "self_name", "flag", 60, None, self_name,
            "The friend has the advocate's full name (two words or more, without accents, "
            "case or punctuation).",
        ),
        Signal(
            "same_device", "flag", 40, 2, same_device,
            "At least THRESHOLD other friends of the advocate followed the link from the "
            "same address with the same browser.",
        ),
        Signal(
            "same_card", "block", 100, None, same_card,
            "The order was paid with a card (Stripe fingerprint) the advocate paid with.",
        ),
        Signal(
            "existing_customer", "flag", 50, None, existing_customer,
            "The friend had an order (backfilled history included) before the referral.",
        ),
        Signal(
            "velocity_ip", "flag", 30, 5, velocity_ip,
            "At least THRESHOLD sign-ups from one address within an hour.",
        ),
        Signal(
            "velocity_advocate", "flag", 30, 20, velocity_advocate,
            "At least THRESHOLD sign-ups for one advocate within a day.",
        ),
        Signal(
            "disposable_email", "flag", 40, None, disposable_email,
            "The friend's email is at a disposable-address domain "
            "(the disposable-email-domains list).",
        ),
        Signal(
            "refund_rate", "flag", 40, 50, refund_rate,
            "THRESHOLD % or more of the advocate's referred orders (at least 3) were refunded.",
        ),
        Signal(
            "coupon_site", "flag", 40, None, coupon_site,
            "The friend clicked the link on a coupon or deal site (FRAUD_COUPON_SITES).",
        ),
        Signal(
            "name_lookup_family", "flag", 50, None, name_lookup_family,
            "A friend who picked the advocate by name at checkout has the advocate's "
            "surname and email domain.",
        ),
    )
}  # fmt: skip
