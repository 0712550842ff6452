import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import selectors, services


def _with_params(url: str, **params: str) -> str:
    if "?" not in url and "#" not in url:
        # The common case, without parsing: codes and click ids are URL-safe.
        return url + "?" + "&".join(f"{k}={v}" for k, v in params.items())
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _target(program, requested: str | None) -> str:
    """``?to=`` when it is an http(s) URL on an allowed domain; the landing URL otherwise."""
    if requested:
        parts = urlsplit(requested)
        if parts.scheme in ("http", "https") and program.allows_host(parts.hostname):
            return requested
    return program.landing_url


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


@require_GET
def referral_redirect(request, code: str):
    """``GET /r/<code>``: record the click and send the friend to the shop."""
    link = selectors.link_for_redirect(code)
    if link is None:
        return render(request, "referrals/link_unknown.html", {"code": code[:32]}, status=404)
    program = link.program
    target = _target(program, request.GET.get("to"))
    if not selectors.link_accepts_clicks(link):
        # A paused program or advocate still gets the friend to the shop, untracked.
        return HttpResponseRedirect(target)
    click_id: uuid.UUID = services.click_record(
        link=link,
        channel=request.GET.get("ch", ""),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        ip=_client_ip(request),
    )
    # A plain 302: the target is the program's validated landing URL or an
    # http(s) URL on its allowed domains, so HttpResponseRedirect's checks are moot.
    response = HttpResponse(
        status=302,
        headers={
            "Location": _with_params(target, ref=link.code, click=str(click_id)),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
    response.set_cookie(
        settings.REFERRAL_COOKIE_NAME,
        f"{link.code}.{click_id}",
        max_age=program.attribution_window_days * 86400,
        samesite="Lax",
        secure=request.is_secure(),
        httponly=True,
    )
    return response
