"""Content-Security-Policy on every HTML page (django-csp; the policy is in settings).

Scripts run only from this site or with the request's nonce, so an injected
``<script>`` or ``onclick=`` does nothing. ``docs/deploy.md`` ("Content-Security-Policy")
lists the directives and why each source is there.

Pages a merchant frames (the advocate widget, the testimonials widget) widen only
``frame-ancestors``, to the program's own sites: ``allow_framing_by``.
"""

import ipaddress
from collections.abc import Iterable

from csp.middleware import CSPMiddleware
from django.conf import settings

# Redirects and JSON carry no policy (nothing in them runs); /r/<code> is the hot
# path, so it skips even the nonce's bookkeeping (its pages have no script).
REDIRECTS = frozenset((301, 302, 303, 307, 308))
HOT_PATHS = ("/r/",)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def process_request(self, request):
        if request.path_info.startswith(HOT_PATHS):
            return None
        return super().process_request(request)

    def process_response(self, request, response):
        if response.status_code in REDIRECTS or not response.get("Content-Type", "").startswith(
            "text/html"
        ):
            return response
        return super().process_response(request, response)


def frame_ancestor_sources(hosts: Iterable[str]) -> list[str]:
    """``frame-ancestors`` sources for a program's sites: any port, subdomains too.

    HTTPS only in production: a page served over plain HTTP can be altered on the
    way, so it must not frame a customer's widget. ``DEBUG=1`` allows http too.
    """
    schemes = ("https", "http") if settings.DEBUG else ("https",)
    sources = ["'self'"]
    for host in sorted(hosts):
        try:
            ipaddress.ip_address(host.strip("[]"))
            is_ip = True
        except ValueError:
            is_ip = False
        for scheme in schemes:
            sources.append(f"{scheme}://{host}:*")
            if not is_ip:
                sources.append(f"{scheme}://*.{host}:*")
    return sources


def allow_framing_by(response, hosts: Iterable[str]):
    """Let the given sites (and this one) frame ``response``; the rest of the policy stays."""
    replace = dict(getattr(response, "_csp_replace", None) or {})
    replace["frame-ancestors"] = frame_ancestor_sources(hosts)
    response._csp_replace = replace  # what django-csp's @csp_replace sets
    return response
