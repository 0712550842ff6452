"""Reads for the advocate portal, always scoped to the signed-in user's own advocates."""

import io
import re
from datetime import datetime, time, timedelta
from urllib.parse import quote, urlencode

import qrcode
import qrcode.image.pure
import qrcode.image.svg
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from advocacy.models import Advocate, Program
from core.money import format_money
from referrals.models import Click, Conversion, Referral, ReferralLink
from referrals.selectors import advocate_stats
from referrals.services import advocate_primary_link, referral_url
from rewards.ledger import POINTS_CURRENCY, balances
from rewards.models import CatalogItem, LedgerEntry, Payout, PayoutAccount, Redemption, RewardRule

CHART_DAYS = 30
REFERRALS_SHOWN = 100
HISTORY_SHOWN = 100

# Model choice labels are not translated; the portal shows its own.
REFERRAL_STATUS_LABELS = {
    "signed_up": gettext_lazy("Signed up"),
    "converted": gettext_lazy("Purchased"),
    "rejected": gettext_lazy("Not eligible"),
}
ADVOCATE_STATUS_LABELS = {
    "invited": gettext_lazy("invited"),
    "active": gettext_lazy("active"),
    "paused": gettext_lazy("paused"),
    "banned": gettext_lazy("banned"),
}
LEDGER_KIND_LABELS = {
    "reward_issued": gettext_lazy("Reward issued"),
    "reward_matured": gettext_lazy("Reward became available"),
    "reward_reversed": gettext_lazy("Reward reversed"),
    "clawback": gettext_lazy("Paid reward clawed back"),
    "payout": gettext_lazy("Payout"),
    "payout_returned": gettext_lazy("Failed payout returned"),
    "redemption": gettext_lazy("Points redeemed"),
    "redemption_refunded": gettext_lazy("Redemption refunded"),
    "adjustment": gettext_lazy("Adjustment"),
}
BUCKET_LABELS = {
    "pending": gettext_lazy("pending"),
    "available": gettext_lazy("available"),
    "in_payout": gettext_lazy("in a payout"),
    "paid": gettext_lazy("paid"),
}
PAYOUT_STATUS_LABELS = {
    "awaiting_approval": gettext_lazy("Awaiting approval"),
    "pending": gettext_lazy("Queued"),
    "sending": gettext_lazy("Sending"),
    "paid": gettext_lazy("Paid"),
    "failed": gettext_lazy("Failed (money returned)"),
    "reversed": gettext_lazy("Reversed (money returned)"),
}
REDEMPTION_STATUS_LABELS = {
    "completed": gettext_lazy("Completed"),
    "awaiting_fulfilment": gettext_lazy("Awaiting fulfilment"),
    "fulfilled": gettext_lazy("Fulfilled"),
    "cancelled": gettext_lazy("Cancelled (points returned)"),
}


def advocate_for_user(user, slug: str) -> Advocate:
    """The user's own advocate record in this program; anyone else's is a 404."""
    if not user.is_authenticated:
        raise Http404
    advocate = (
        Advocate.objects.select_related("program").filter(program__slug=slug, user=user).first()
    )
    if advocate is None:
        raise Http404
    return advocate


def advocates_of_user(user) -> list[Advocate]:
    return list(
        Advocate.objects.filter(user=user).select_related("program").order_by("program__name")
    )


def mask_email(email: str) -> str:
    """``nina@example.com`` -> ``n***@example.com``: enough to recognise a friend."""
    local, sep, domain = (email or "").partition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


def money(amount_minor: int, currency: str) -> str:
    return format_money(amount_minor, currency)


def friend_discount_percent(program: Program) -> int:
    """The friend's percent off from the program's active signup coupon rule, or 0."""
    rule = (
        RewardRule.objects.filter(
            program=program,
            is_active=True,
            trigger=RewardRule.Trigger.SIGNUP,
            recipient__in=[RewardRule.Recipient.FRIEND, RewardRule.Recipient.BOTH],
            kind=RewardRule.Kind.COUPON,
            coupon_percent_off__gt=0,
        )
        .order_by("-coupon_percent_off")
        .first()
    )
    return rule.coupon_percent_off if rule else 0


def program_share_messages(program: Program) -> dict[tuple[str, str], str]:
    """The program's own share texts, keyed by (channel, language); one query."""
    return {(m.channel, m.language): m.text for m in program.share_messages.all()}


def share_message(
    *, program: Program, percent: int, channel: str, custom: dict | None = None
) -> str:
    """The text a friend receives: the program's own for this channel and language, if any,
    else a translated default that mentions the discount when there is one."""
    if custom:
        language = get_language() or ""
        for key in ((channel, language), (channel, ""), ("", language), ("", "")):
            if key in custom:
                return custom[key]
    if channel == "x":
        if percent:
            return _("%(percent)s%% off at %(program)s with my link:") % {
                "percent": percent,
                "program": program.name,
            }
        return _("I recommend %(program)s:") % {"program": program.name}
    if percent:
        return _(
            "Hi! I love %(program)s. Sign up with my link and get %(percent)s%% off "
            "your first order:"
        ) % {"percent": percent, "program": program.name}
    return _("Hi! I love %(program)s and I think you will too. Have a look:") % {
        "program": program.name
    }


def share_links(*, program: Program, url: str, percent: int) -> list[dict]:
    """One link per channel; each carries ``?ch=<channel>`` so its clicks are counted apart."""

    def tagged(channel):
        return f"{url}?ch={channel}"

    def q(params):
        return urlencode(params, quote_via=quote)

    custom = program_share_messages(program)

    def text(channel):
        message = share_message(program=program, percent=percent, channel=channel, custom=custom)
        return f"{message} {tagged(channel)}"

    subject = _("A gift for you from %(program)s") % {"program": program.name}
    return [
        {
            "channel": "email",
            "label": _("Email"),
            "href": "mailto:?" + q({"subject": subject, "body": text("email")}),
        },
        {"channel": "sms", "label": _("SMS"), "href": "sms:?&" + q({"body": text("sms")})},
        {
            "channel": "whatsapp",
            "label": _("WhatsApp"),
            "href": "https://wa.me/?" + q({"text": text("whatsapp")}),
        },
        {
            "channel": "x",
            "label": _("X"),
            "href": "https://twitter.com/intent/tweet?"
            + q(
                {
                    "text": share_message(
                        program=program, percent=percent, channel="x", custom=custom
                    ),
                    "url": tagged("x"),
                }
            ),
        },
        {
            "channel": "facebook",
            "label": _("Facebook"),
            "href": "https://www.facebook.com/sharer/sharer.php?" + q({"u": tagged("facebook")}),
        },
        {
            "channel": "linkedin",
            "label": _("LinkedIn"),
            "href": "https://www.linkedin.com/sharing/share-offsite/?"
            + q({"url": tagged("linkedin")}),
        },
    ]


def qr_png(url: str) -> bytes:
    """The QR code as a PNG (pure Python, through pypng), for print and chat apps."""
    image = qrcode.make(url, image_factory=qrcode.image.pure.PyPNGImage, border=2, box_size=10)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def qr_svg(url: str) -> str:
    """The link as an SVG QR code (a single path), sized by CSS."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = image.to_string(encoding="unicode")
    return re.sub(r'width="[^"]*" height="[^"]*" ', "", svg, count=1)


def daily_activity(*, advocate: Advocate, days: int = CHART_DAYS) -> dict:
    """Clicks and purchases per day over the last ``days`` days, laid out as SVG bars."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=timezone.get_current_timezone())
    clicks = dict(
        Click.objects.filter(advocate=advocate, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("day", "n")
    )
    purchases = dict(
        Conversion.objects.filter(advocate=advocate, attributed=True, occurred_at__gte=since)
        .annotate(day=TruncDate("occurred_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("day", "n")
    )
    height, slot = 100, 10
    peak = max([*clicks.values(), *purchases.values(), 1])
    bars = []
    for i in range(days):
        day = first + timedelta(days=i)
        c, p = clicks.get(day, 0), purchases.get(day, 0)
        ch, ph = round(c * height / peak), round(p * height / peak)
        bars.append(
            {
                "day": day,
                "clicks": c,
                "purchases": p,
                "x": i * slot + 1,
                "px": i * slot + 5,
                "cy": height - ch,
                "ch": ch,
                "py": height - ph,
                "ph": ph,
            }
        )
    return {
        "bars": bars,
        "width": days * slot,
        "height": height,
        "peak": peak,
        "total_clicks": sum(clicks.values()),
        "total_purchases": sum(purchases.values()),
    }


def cash_summary(raw: dict, *, default_currency: str) -> list[dict]:
    """Per currency: pending, available, paid and earned (available + in payout + paid).

    With no cash yet, the program's currency shows zeros rather than nothing.
    """
    rows = []
    for currency, buckets in sorted((raw["cash"] or {default_currency: {}}).items()):
        available = buckets.get("available", 0)
        paid = buckets.get("paid", 0)
        in_payout = buckets.get("in_payout", 0)
        rows.append(
            {
                "currency": currency,
                "pending": money(buckets.get("pending", 0), currency),
                "available": money(available, currency),
                "in_payout": money(in_payout, currency) if in_payout else "",
                "paid": money(paid, currency),
                "earned": money(available + in_payout + paid, currency),
            }
        )
    return rows


def dashboard(*, advocate: Advocate) -> dict:
    """Everything the dashboard shows, in a fixed number of queries."""
    program = advocate.program
    link = advocate_primary_link(advocate)
    url = referral_url(link.code)
    percent = friend_discount_percent(program)
    referrals = [
        {
            "email": mask_email(r.friend_email) if r.friend_email else _("(no email)"),
            "status": r.status,
            "status_label": REFERRAL_STATUS_LABELS.get(r.status, r.status),
            "created_at": r.created_at,
        }
        for r in Referral.objects.filter(advocate=advocate)
        .only("friend_email", "status", "created_at")
        .order_by("-created_at", "-pk")[:REFERRALS_SHOWN]
    ]
    return {
        "link": link,
        "referral_url": url,
        "code": advocate.coupon_code or link.code,
        "qr_svg": qr_svg(url),
        "friend_percent": percent,
        "share_text": share_message(program=program, percent=percent, channel="native"),
        "native_url": f"{url}?ch=native",
        "share_links": share_links(program=program, url=url, percent=percent),
        "stats": advocate_stats(advocate=advocate),
        "cash": cash_summary(balances(advocate=advocate), default_currency=program.currency),
        "chart": daily_activity(advocate=advocate),
        "referrals": referrals,
    }


def rewards_page(*, advocate: Advocate) -> dict:
    """Balances, ledger history, catalog, redemptions and payouts of one advocate."""
    raw = balances(advocate=advocate)
    history = [
        {
            "created_at": e.created_at,
            "kind": LEDGER_KIND_LABELS.get(e.kind, e.kind),
            "bucket": BUCKET_LABELS.get(e.bucket, e.bucket),
            "memo": e.memo,
            "amount": (
                _("%(points)s points") % {"points": e.amount_minor}
                if e.currency == POINTS_CURRENCY
                else money(e.amount_minor, e.currency)
            ),
            "negative": e.amount_minor < 0,
        }
        for e in LedgerEntry.objects.filter(advocate=advocate).order_by("-created_at", "-pk")[
            :HISTORY_SHOWN
        ]
    ]
    catalog = list(
        CatalogItem.objects.filter(program_id=advocate.program_id, is_active=True).order_by(
            "points_price", "name"
        )
    )
    redemptions = [
        {
            "item": r.item.name,
            "points": r.points,
            "status": REDEMPTION_STATUS_LABELS.get(r.status, r.status),
            "coupon_code": r.coupon_code,
            "created_at": r.created_at,
        }
        for r in Redemption.objects.filter(advocate=advocate)
        .select_related("item")
        .order_by("-created_at", "-pk")[:HISTORY_SHOWN]
    ]
    payouts = [
        {
            "amount": money(p.amount_minor, p.currency),
            "status": PAYOUT_STATUS_LABELS.get(p.status, p.status),
            "failure_reason": p.failure_reason,
            "created_at": p.created_at,
            "sent_at": p.sent_at,
        }
        for p in Payout.objects.filter(advocate=advocate).order_by("-created_at", "-pk")[
            :HISTORY_SHOWN
        ]
    ]
    account = PayoutAccount.objects.filter(advocate=advocate).first()
    points = raw["points"]
    return {
        "cash": cash_summary(raw, default_currency=advocate.program.currency),
        "points": points,
        "history": history,
        "catalog": [
            {"item": item, "affordable": item.points_price <= points["available"]}
            for item in catalog
        ],
        "redemptions": redemptions,
        "payouts": payouts,
        "payout_account": account,
        "min_payout": money(advocate.program.min_payout_minor, advocate.program.currency),
    }


def _reward_phrase(rule, currency: str) -> str:
    kind = rule.Kind
    if rule.kind == kind.CASH:
        return money(rule.amount_minor, currency)
    if rule.kind == kind.COMMISSION:
        return _("%(percent)s%% of the order") % {"percent": rule.percent.normalize()}
    if rule.kind == kind.POINTS:
        return _("%(points)s points") % {"points": rule.points}
    if rule.kind == kind.COUPON:
        if rule.coupon_percent_off:
            return _("%(percent)s%% off") % {"percent": rule.coupon_percent_off}
        if rule.coupon_pool_id and rule.coupon_pool.description:
            return rule.coupon_pool.description
        return _("a discount coupon")
    return rule.perk_description or _("a perk")


def _advocate_sentence(rule, what: str) -> str:
    trigger = rule.Trigger
    if rule.trigger == trigger.SIGNUP:
        return _("You get %(reward)s when a friend signs up.") % {"reward": what}
    if rule.trigger == trigger.FIRST_PURCHASE:
        return _("You get %(reward)s when a friend makes their first purchase.") % {"reward": what}
    if rule.trigger == trigger.EVERY_PURCHASE:
        return _("You get %(reward)s for every purchase a friend makes.") % {"reward": what}
    return _("You get %(reward)s when %(count)s of your friends have bought.") % {
        "reward": what,
        "count": rule.milestone_count,
    }


def _friend_sentence(rule, what: str) -> str:
    trigger = rule.Trigger
    if rule.trigger == trigger.SIGNUP:
        return _("Friends get %(reward)s when they sign up with your link.") % {"reward": what}
    if rule.trigger == trigger.FIRST_PURCHASE:
        return _("Friends get %(reward)s after their first purchase.") % {"reward": what}
    return _("Friends get %(reward)s with every purchase.") % {"reward": what}


def program_offer(*, program: Program) -> list[str]:
    """The program's active reward rules, each said in one sentence."""
    sentences = []
    rules = (
        RewardRule.objects.filter(program=program, is_active=True)
        .select_related("coupon_pool")
        .order_by("pk")
    )
    for rule in rules:
        what = _reward_phrase(rule, program.currency)
        if rule.recipient in (RewardRule.Recipient.ADVOCATE, RewardRule.Recipient.BOTH):
            sentences.append(_advocate_sentence(rule, what))
        if rule.recipient in (RewardRule.Recipient.FRIEND, RewardRule.Recipient.BOTH):
            sentences.append(_friend_sentence(rule, what))
    return sentences


def is_banned(advocate: Advocate) -> bool:
    return advocate.status == Advocate.Status.BANNED


def home_memberships(user) -> list[dict]:
    """The user's programs with their links, for the portal's front page."""
    advocates = advocates_of_user(user)
    links = {}
    for link in ReferralLink.objects.filter(advocate__in=advocates, is_active=True).order_by(
        "-created_at"
    ):
        links[link.advocate_id] = link  # the oldest wins, as in advocate_primary_link
    rows = []
    for advocate in advocates:
        banned = is_banned(advocate)
        link = None if banned else links.get(advocate.pk)
        if link is None and not banned:
            link = advocate_primary_link(advocate)
        rows.append(
            {
                "advocate": advocate,
                "program": advocate.program,
                "banned": banned,
                "status_label": ADVOCATE_STATUS_LABELS.get(advocate.status, advocate.status),
                "referral_url": referral_url(link.code) if link else "",
            }
        )
    return rows


def open_programs(*, exclude_ids) -> list[Program]:
    return list(
        Program.objects.filter(status=Program.Status.ACTIVE, open_enrollment=True)
        .exclude(Q(pk__in=exclude_ids))
        .order_by("name")
    )
