"""Two-factor sign-in for staff (allauth's MFA: TOTP apps and recovery codes).

The admin signs in through allauth (``secure_admin_login`` in ``config/urls.py``),
so a manager with an authenticator app is asked for its code after the password.
With ``STAFF_REQUIRE_2FA`` on (the default with ``DEBUG=0``), a staff member
without one is sent to set it up before the admin opens; nothing else of the admin
is reachable until then.
"""

from urllib.parse import urlencode

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
# The admin, and the pages served beside it through admin_view (the dashboard's CSVs).
STAFF_PATHS = ("/admin/", "/measurement/dashboard/")


def needs_second_factor(user) -> bool:
    """A staff member who must set up a second factor before using the admin."""
    return (
        settings.STAFF_REQUIRE_2FA
        and user.is_authenticated
        and user.is_staff
        and not is_mfa_enabled(user, SECOND_FACTORS)
    )


class StaffTwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(STAFF_PATHS) and needs_second_factor(request.user):
            messages.warning(
                request,
                "Managers sign in with a second factor: set up an authenticator app to "
                "open the admin.",
            )
            setup = reverse("mfa_activate_totp")
            return redirect(f"{setup}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
