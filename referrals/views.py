import functools
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.rate_limits import client_ip, redirect_rate_limited
from core.url_safety import url_ambiguity

from . import selectors, services
from .clicks import LinkUnavailable


@functools.lru_cache(maxsize=4096)
def _redirect_base(url: str) -> tuple[str, str]:
    """(``url`` up to its query without ``ref``/``click``, ready to append to; its fragment)."""
    if "?" not in url and "#" not in url:
        return url + "?", ""
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("ref", "click")
    ]
    base = urlunsplit(parts._replace(query=urlencode(query), fragment=""))
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return base + ("&" if query else "?"), fragment


def _landing(target: str, code: str, click_id: str) -> str:
    """The landing URL with ``ref`` and ``click`` (URL-safe values: no quoting needed)."""
    base, fragment = _redirect_base(target)
    return f"{base}ref={code}&click={click_id}{fragment}"


def _target(program, requested: str | None) -> str:
    """``?to=`` when it is a plain http(s) URL on an allowed domain; the landing URL otherwise."""
    if requested and not url_ambiguity(requested):
        parts = urlsplit(requested)
        if parts.scheme in ("http", "https") and program.allows_host(parts.hostname):
            return requested
    return program.landing_url


def _client_ip(request) -> str:
    return client_ip(request)


_UNAVAILABLE = object()  # the lookup's outcome when the database is down
_NOT_LOOKED_UP = object()


def _lookup(code: str):
    try:
        return selectors.link_for_redirect(code)
    except LinkUnavailable:
        return _UNAVAILABLE


def redirect_tracked(request, code: str) -> HttpResponse | None:
    """The 302 of a known link (the click recorded), or None when the link is unknown or
    cannot be looked up; the outcome is kept on the request for the view."""
    link = request._referral_link = _lookup(code)
    if link is None or link is _UNAVAILABLE:
        return None
    return _redirect(request, link)


@require_GET
def referral_redirect(request, code: str):
    """``GET /r/<code>``: record the click and send the friend to the shop."""
    link = getattr(request, "_referral_link", _NOT_LOOKED_UP)
    if link is _NOT_LOOKED_UP:
        link = _lookup(code)
    if link is _UNAVAILABLE:
        # The database is down and this process has not seen the link: a page that
        # retries by itself, never an error (it queries nothing).
        response = render(request, "referrals/link_unavailable.html", status=200)
        response["Cache-Control"] = "no-store"
        response["Retry-After"] = "5"
        return response
    if link is None:
        return render(request, "referrals/link_unknown.html", {"code": code[:32]}, status=404)
    return _redirect(request, link)


def _redirect(request, link) -> HttpResponse:
    program = link.program
    # Most clicks carry no query string: skip building a QueryDict for them.
    query = request.GET if request.META.get("QUERY_STRING") else {}
    target = _target(program, query.get("to"))
    if not selectors.link_accepts_clicks(link) or redirect_rate_limited(request):
        # A paused program or advocate, or an address past REDIRECT_RATE_PER_IP,
        # still gets the friend to the shop, untracked: no click, no attribution.
        return HttpResponseRedirect(target)
    click_id = str(
        services.click_record(
            link=link,
            channel=query.get("ch", ""),
            placement=query.get("p", ""),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            ip=_client_ip(request),
            referrer=request.META.get("HTTP_REFERER", ""),
        )
    )
    # A plain 302: the target is the program's validated landing URL or an
    # http(s) URL on its allowed domains, so HttpResponseRedirect's checks are moot.
    # The attribution cookie is one header written here rather than through
    # set_cookie()'s SimpleCookie, the costliest part of a click otherwise; its
    # value (a code and a click id) needs no quoting.
    return HttpResponse(
        status=302,
        headers={
            "Location": _landing(target, link.code, click_id),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "Set-Cookie": (
                f"{settings.REFERRAL_COOKIE_NAME}={link.code}.{click_id}; "
                f"Max-Age={program.attribution_window_days * 86400}; Path=/; SameSite=Lax; "
                + ("HttpOnly; Secure" if request.is_secure() else "HttpOnly")
            ),
        },
    )
