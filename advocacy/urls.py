from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("join/<slug:slug>/", views.join, name="join"),
    path("payouts/<slug:slug>/setup/", views.payout_setup, name="payout-setup"),
    path("payouts/<slug:slug>/return/", views.payout_return, name="payout-return"),
]
