"""Reads for the advocate widget: the offer in words, the share links, who may frame it."""

import ipaddress
from urllib.parse import quote, urlencode

from advocacy.models import Advocate, Program
from core.money import format_money
from referrals.selectors import advocate_stats
from referrals.services import advocate_primary_link, referral_url
from rewards.models import RewardRule

PURCHASE_TRIGGERS = (RewardRule.Trigger.FIRST_PURCHASE, RewardRule.Trigger.EVERY_PURCHASE)


def program_offer(program: Program) -> dict[str, str]:
    """What the advocate and the friend get, in a few words (empty when there is no rule)."""
    offer = {"advocate": "", "friend": ""}
    advocate_side = (RewardRule.Recipient.ADVOCATE, RewardRule.Recipient.BOTH)
    friend_side = (RewardRule.Recipient.FRIEND, RewardRule.Recipient.BOTH)
    for rule in RewardRule.objects.filter(program=program, is_active=True).order_by("pk"):
        purchase = rule.trigger in PURCHASE_TRIGGERS
        if not offer["advocate"] and rule.recipient in advocate_side and purchase:
            offer["advocate"] = _advocate_reward(rule, program.currency)
        if not offer["friend"] and rule.recipient in friend_side:
            offer["friend"] = _friend_reward(rule)
    return offer


def _friend_reward(rule: RewardRule) -> str:
    if rule.kind == RewardRule.Kind.COUPON and rule.coupon_percent_off:
        return f"{rule.coupon_percent_off}% off"
    if rule.kind == RewardRule.Kind.PERK:
        return rule.perk_description
    return ""


def _advocate_reward(rule: RewardRule, currency: str) -> str:
    if rule.kind == RewardRule.Kind.CASH:
        return format_money(rule.amount_minor, currency)
    if rule.kind == RewardRule.Kind.COMMISSION:
        return f"{rule.percent.normalize():f}% of their order"
    if rule.kind == RewardRule.Kind.POINTS:
        return f"{rule.points} points"
    if rule.kind == RewardRule.Kind.PERK:
        return rule.perk_description
    return ""


def share_links(*, url: str, message: str, subject: str) -> list[dict[str, str]]:
    """One link per channel; each shares the referral URL tagged with its channel (``?ch=``)."""

    def tagged(channel: str) -> str:
        return f"{url}?{urlencode({'ch': channel})}"

    def text(channel: str) -> str:
        return quote(f"{message} {tagged(channel)}", safe="")

    return [
        {
            "channel": "email",
            "label": "Email",
            "href": f"mailto:?subject={quote(subject, safe='')}&body={text('email')}",
        },
        {
            "channel": "whatsapp",
            "label": "WhatsApp",
            "href": f"https://wa.me/?text={text('whatsapp')}",
        },
        {
            "channel": "x",
            "label": "X",
            "href": "https://x.com/intent/post?" + urlencode({"text": message, "url": tagged("x")}),
        },
        {
            "channel": "facebook",
            "label": "Facebook",
            "href": "https://www.facebook.com/sharer/sharer.php?"
            + urlencode({"u": tagged("facebook")}),
        },
        {
            "channel": "linkedin",
            "label": "LinkedIn",
            "href": "https://www.linkedin.com/sharing/share-offsite/?"
            + urlencode({"url": tagged("linkedin")}),
        },
        # "sms:?&body=" is the form both iOS and Android read.
        {"channel": "sms", "label": "SMS", "href": f"sms:?&body={text('sms')}"},
    ]


def widget_context(*, advocate: Advocate) -> dict:
    """What the widget shows an advocate: link, share buttons, offer and stats."""
    program = advocate.program
    url = referral_url(advocate_primary_link(advocate).code)
    offer = program_offer(program)
    message = f"I think you'll like {program.name}"
    message += f" - you get {offer['friend']} with my link:" if offer["friend"] else ":"
    return {
        "advocate": advocate,
        "program": program,
        "referral_url": url,
        "offer": offer,
        "share_links": share_links(url=url, message=message, subject=f"For you: {program.name}"),
        "stats": advocate_stats(advocate=advocate),
    }


def frame_ancestors(program: Program) -> str:
    """The CSP ``frame-ancestors`` allowing the program's own sites (any port, subdomains)."""
    sources = ["'self'"]
    for host in sorted(program.redirect_hosts()):
        try:
            ipaddress.ip_address(host.strip("[]"))
            is_ip = True
        except ValueError:
            is_ip = False
        for scheme in ("https", "http"):
            sources.append(f"{scheme}://{host}:*")
            if not is_ip:
                sources.append(f"{scheme}://*.{host}:*")
    return "frame-ancestors " + " ".join(sources)
