"""The referral redirect ahead of the middleware it does not need.

``GET /r/<code>`` of a known link is answered right after ``SecurityMiddleware``
(HTTPS redirect, HSTS and the other security headers still apply): no session,
locale, CSRF, authentication, messages, allauth or axes work for a friend's click,
which reads none of them. An unknown link, or one that cannot be looked up while the
database is down, goes down the whole stack to its page (in the friend's language).
"""

from .views import redirect_tracked

PREFIX = "/r/"


class ReferralRedirectMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith(PREFIX) and request.method == "GET":
            code = path[len(PREFIX) :]
            # Exactly what the URL pattern r/<str:code> matches.
            if code and "/" not in code:
                request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware would check
                response = redirect_tracked(request, code)
                if response is not None:
                    return response
        return self.get_response(request)
