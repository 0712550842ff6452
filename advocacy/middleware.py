from django.conf import settings
from django.utils import translation

from .models import Advocate


class AdvocateLanguageMiddleware:
    """A signed-in advocate's saved language wins over the browser's.

    Runs after LocaleMiddleware and AuthenticationMiddleware. An explicit
    choice in the language menu (its cookie) wins over both. Requests without a
    session cookie (friends following a link, API calls) are left alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        cookies = request.COOKIES
        if (
            settings.SESSION_COOKIE_NAME in cookies
            and settings.LANGUAGE_COOKIE_NAME not in cookies
            and request.user.is_authenticated
        ):
            locale = (
                Advocate.objects.filter(user=request.user)
                .exclude(locale="")
                .values_list("locale", flat=True)
                .first()
            )
            if locale and translation.check_for_language(locale):
                translation.activate(locale)
                request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
