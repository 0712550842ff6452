"""Reads for the advocate portal, always scoped to the signed-in user's own advocates."""

import io
import re
from datetime import datetime, time, timedelta

import qrcode
import qrcode.image.pure
import qrcode.image.svg
from django.core.paginator import Paginator
from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from advocacy.models import Advocate, Program
from core.money import format_money
from core.normalize import mask_email
from nurture import selectors as nurture_selectors
from referrals.models import Click, Conversion, Referral, ReferralLink
from referrals.selectors import advocate_stats
from referrals.services import advocate_primary_link, referral_url
from referrals.sharing import share_copy_for, share_links, share_message
from rewards import stripe_gateway
from rewards.ledger import POINTS_CURRENCY, balances
from rewards.models import CatalogItem, LedgerEntry, Payout, PayoutAccount, Redemption, Reward
from rewards.offers import friend_discount_percent, offer_sentences
from rewards.perks import advocate_perks

CHART_DAYS = 30
PAGE_SIZE = 50

# Model choice labels are not translated; the portal shows its own.
REFERRAL_STATUS_LABELS = {
    "signed_up": gettext_lazy("Signed up"),
    "converted": gettext_lazy("Purchased"),
    "rejected": gettext_lazy("Not eligible"),
}


def rejection_reason_label(reason: str) -> str:
    """Why a referral earns nothing, in the advocate's words."""
    if reason.startswith("self-referral"):
        if "card" in reason:
            return _("The purchase was paid with your own card: you can't refer yourself.")
        return _("This is your own email address or customer account: you can't refer yourself.")
    if reason.startswith("advocate is"):
        return _("Your account was not active when this friend arrived.")
    if reason:
        return _(
            "This friend doesn't meet the program's conditions (for example, already a customer)."
        )
    return ""


ADVOCATE_STATUS_LABELS = {
    "invited": gettext_lazy("invited"),
    "active": gettext_lazy("active"),
    "paused": gettext_lazy("paused"),
    "banned": gettext_lazy("banned"),
}
# What happened to the advocate, in their words (internal bucket moves are not shown).
LEDGER_KIND_LABELS = {
    "reward_reversed": gettext_lazy("Reward cancelled (the order was refunded or cancelled)"),
    "clawback": gettext_lazy("Paid reward taken back (the order was refunded)"),
    "payout": gettext_lazy("Paid out to your account"),
    "payout_returned": gettext_lazy("A payout did not go through: the money is back"),
    "redemption": gettext_lazy("Points spent"),
    "redemption_refunded": gettext_lazy("Points returned"),
    "adjustment": gettext_lazy("Correction by the program"),
}
# The ledger entries the history shows: one line per thing that happened.
HISTORY_FILTER = (
    Q(kind="reward_issued")
    | Q(kind__in=["reward_reversed", "clawback", "redemption", "redemption_refunded", "adjustment"])
    | Q(kind="payout", bucket="paid")
    | Q(kind="payout_returned", bucket="available")
)
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


def money(amount_minor: int, currency: str) -> str:
    return format_money(amount_minor, currency)


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
    # The y axis: 0, the middle and the top (whole numbers); the x axis: four dates.
    middle = peak / 2
    y_ticks = [peak, int(middle) if middle == int(middle) else None, 0]
    x_ticks = [first + timedelta(days=i) for i in (0, days // 3, 2 * days // 3, days - 1)]
    return {
        "bars": bars,
        "width": days * slot,
        "height": height,
        "peak": peak,
        "y_ticks": [t for t in y_ticks if t is not None],
        "x_ticks": x_ticks,
        "total_clicks": sum(clicks.values()),
        "total_purchases": sum(purchases.values()),
    }


def cash_summary(raw: dict, *, default_currency: str) -> list[dict]:
    """Per currency: pending, available, paid and earned (all of them, pending included).

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
                # Everything earned so far, pending included: "earned 0, pending 20" read wrong.
                "earned": money(buckets.get("pending", 0) + available + in_payout + paid, currency),
                "has_pending": buckets.get("pending", 0) > 0,
            }
        )
    return rows


def signed_up_friends(*, advocate: Advocate) -> int:
    """Friends who signed up through the advocate (not rejected).

    A friend who bought without signing up first gets a referral at the purchase,
    converted the moment it is created; those count as purchases, not sign-ups.
    """
    return (
        Referral.objects.filter(advocate=advocate)
        .exclude(status=Referral.Status.REJECTED)
        .exclude(converted_at__isnull=False, converted_at__lte=F("created_at"))
        .count()
    )


def page_of(queryset, page: str | int | None, *, size: int = PAGE_SIZE):
    """One page of a history (the last page when ``page`` is past it)."""
    return Paginator(queryset, size).get_page(page)


def referral_rows(*, advocate: Advocate, page=None):
    """The advocate's referrals, newest first, a page at a time, with why any earn nothing."""
    page_obj = page_of(
        Referral.objects.filter(advocate=advocate)
        .only("friend_email", "status", "rejection_reason", "created_at")
        .order_by("-created_at", "-pk"),
        page,
    )
    rows = [
        {
            "email": mask_email(r.friend_email) if r.friend_email else _("(no email)"),
            "status": r.status,
            "status_label": REFERRAL_STATUS_LABELS.get(r.status, r.status),
            "reason": rejection_reason_label(r.rejection_reason)
            if r.status == Referral.Status.REJECTED
            else "",
            "created_at": r.created_at,
        }
        for r in page_obj
    ]
    return rows, page_obj


def dashboard(*, advocate: Advocate, page=None) -> dict:
    """Everything the dashboard shows, in a fixed number of queries."""
    program = advocate.program
    link = advocate_primary_link(advocate)
    url = referral_url(link.code)
    percent = friend_discount_percent(program)
    copy = share_copy_for(advocate=advocate)  # a share-copy experiment's texts, read once
    referrals, referrals_page = referral_rows(advocate=advocate, page=page)
    stats = advocate_stats(advocate=advocate)
    stats["signed_up"] = signed_up_friends(advocate=advocate)
    return {
        "link": link,
        "referral_url": url,
        "code": advocate.coupon_code or link.code,
        "qr_svg": qr_svg(url),
        "friend_percent": percent,
        "offer": offer_sentences(program=program, advocate=advocate),
        "share_text": share_message(program=program, percent=percent, channel="native", copy=copy),
        "native_url": f"{url}?ch=native",
        "share_links": share_links(
            program=program, url=url, percent=percent, placement="portal", copy=copy
        ),
        "stats": stats,
        "cash": cash_summary(balances(advocate=advocate), default_currency=program.currency),
        "chart": daily_activity(advocate=advocate),
        "referrals": referrals,
        "referrals_page": referrals_page,
    }


def _history_what(entry: LedgerEntry) -> str:
    reward = entry.reward
    if entry.kind != "reward_issued" or reward is None:
        return LEDGER_KIND_LABELS.get(entry.kind, entry.kind)
    if reward.conversion_id:
        return _("Reward for a friend's purchase")
    if reward.referral_id:
        return _("Reward for a friend's sign-up")
    return nurture_selectors.reward_label(reward) or reward.reason


def _history_state(entry: LedgerEntry) -> str:
    """Where a reward stands now ("available on 3 May"), for the rows that are rewards."""
    reward = entry.reward
    if entry.kind != "reward_issued" or reward is None:
        return ""
    if reward.status == Reward.Status.PENDING:
        if reward.requires_approval and reward.approved_at is None:
            return _("waiting for the program's approval")
        return _("available on %(date)s") % {
            "date": date_format(timezone.localtime(reward.available_at), "DATE_FORMAT")
        }
    labels = {
        Reward.Status.AVAILABLE: _("available"),
        Reward.Status.PAID: _("paid out"),
        Reward.Status.REVERSED: _("cancelled"),
    }
    return labels.get(reward.status, "")


def history_rows(*, advocate: Advocate, page=None):
    """What happened to the advocate's money and points, newest first, a page at a time."""
    page_obj = page_of(
        LedgerEntry.objects.filter(HISTORY_FILTER, advocate=advocate)
        .select_related("reward")
        .order_by("-created_at", "-pk"),
        page,
    )
    rows = [
        {
            "created_at": e.created_at,
            "what": _history_what(e),
            "state": _history_state(e),
            "memo": e.memo if e.kind == "adjustment" else "",
            "amount": (
                _("%(points)s points") % {"points": e.amount_minor}
                if e.currency == POINTS_CURRENCY
                else money(e.amount_minor, e.currency)
            ),
            "negative": e.amount_minor < 0,
        }
        for e in page_obj
    ]
    return rows, page_obj


def _when(value) -> str:
    return date_format(timezone.localtime(value), "DATETIME_FORMAT")


def perk_rows(*, advocate: Advocate, now=None) -> list[dict]:
    """The advocate's perks (early access, ...): open and upcoming first, then ended."""
    now = now or timezone.now()
    rows = []
    for reward in advocate_perks(advocate=advocate):
        perk = reward.perk
        state = perk.state(now)
        if state == "upcoming":
            when = _("Opens on %(date)s") % {"date": _when(perk.starts_at)}
        elif state == "ended":
            when = _("Ended on %(date)s") % {"date": _when(perk.ends_at)}
        elif perk.ends_at:
            when = _("Open now, until %(date)s") % {"date": _when(perk.ends_at)}
        else:
            when = _("Open now")
        rows.append(
            {
                "name": perk.name,
                "description": perk.description,
                "early_access": perk.kind == perk.Kind.EARLY_ACCESS,
                "url": perk.url,
                "code": perk.code,
                "state": state,
                "when": when,
                "granted_at": reward.created_at,
            }
        )
    rows.sort(key=lambda r: r["state"] == "ended")
    return rows


def rewards_page(
    *, advocate: Advocate, page=None, redemptions_page=None, payouts_page=None
) -> dict:
    """Balances, history, catalog, redemptions and payouts of one advocate; the history,
    redemptions and payouts a page at a time (each list its own page number)."""
    raw = balances(advocate=advocate)
    history, history_page = history_rows(advocate=advocate, page=page)
    redemptions_page = page_of(
        Redemption.objects.filter(advocate=advocate)
        .select_related("item")
        .order_by("-created_at", "-pk"),
        redemptions_page,
    )
    payouts_page = page_of(
        Payout.objects.filter(advocate=advocate).order_by("-created_at", "-pk"), payouts_page
    )
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
        for r in redemptions_page
    ]
    payouts = [
        {
            "amount": money(p.amount_minor, p.currency),
            "status": PAYOUT_STATUS_LABELS.get(p.status, p.status),
            "failure_reason": p.failure_reason,
            "created_at": p.created_at,
            "sent_at": p.sent_at,
        }
        for p in payouts_page
    ]
    account = PayoutAccount.objects.filter(advocate=advocate).first()
    points = raw["points"]
    return {
        "cash": cash_summary(raw, default_currency=advocate.program.currency),
        "points": points,
        "history": history,
        "history_page": history_page,
        "perks": perk_rows(advocate=advocate),
        "payouts_enabled": stripe_gateway.enabled(),
        "catalog": [
            {"item": item, "affordable": item.points_price <= points["available"]}
            for item in catalog
        ],
        "redemptions": redemptions,
        "redemptions_page": redemptions_page,
        "payouts": payouts,
        "payouts_page": payouts_page,
        "payout_account": account,
        "min_payout": money(advocate.program.min_payout_minor, advocate.program.currency),
    }


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
