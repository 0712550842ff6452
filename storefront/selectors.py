"""Reads for the advocate widget: the offer in words, the share links, who may frame it."""

import ipaddress

from django.conf import settings

from advocacy.models import Advocate, Program
from referrals.selectors import advocate_stats
from referrals.services import advocate_primary_link, referral_url
from referrals.sharing import share_links
from rewards.offers import friend_discount_percent, offer_summary


def widget_context(*, advocate: Advocate) -> dict:
    """What the widget shows an advocate: link, share buttons, offer and stats."""
    program = advocate.program
    url = referral_url(advocate_primary_link(advocate).code)
    return {
        "advocate": advocate,
        "program": program,
        "referral_url": url,
        "offer": offer_summary(program=program),
        "share_links": share_links(
            program=program, url=url, percent=friend_discount_percent(program)
        ),
        "stats": advocate_stats(advocate=advocate),
    }


def frame_ancestors(program: Program) -> str:
    """The CSP ``frame-ancestors`` allowing the program's own sites (any port, subdomains).

    Over HTTPS only in production: a page served over plain HTTP can be altered on the
    way, so it must not frame a customer's widget. ``DEBUG=1`` allows http too.
    """
    schemes = ("https", "http") if settings.DEBUG else ("https",)
    sources = ["'self'"]
    for host in sorted(program.redirect_hosts()):
        try:
            ipaddress.ip_address(host.strip("[]"))
            is_ip = True
        except ValueError:
            is_ip = False
        for scheme in schemes:
            sources.append(f"{scheme}://{host}:*")
            if not is_ip:
                sources.append(f"{scheme}://*.{host}:*")
    return "frame-ancestors " + " ".join(sources)
