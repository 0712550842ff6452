"""The project's URLs plus ``bare/``, a view that does nothing but redirect."""

from django.http import HttpResponseRedirect
from django.urls import include, path

BARE_TARGET = "https://shop.example.com/landing"


def bare_redirect(request):
    """The floor: same server, same middleware, no database, a fixed 302."""
    return HttpResponseRedirect(BARE_TARGET)


urlpatterns = [
    path("bare/", bare_redirect, name="bench-bare"),
    path("", include("config.urls")),
]
