from django.urls import path

from . import portal, views

app_name = "portal"

urlpatterns = [
    path("", portal.home, name="home"),
    path("join/<slug:slug>/", views.join, name="join"),
    path("p/<slug:slug>/", portal.dashboard, name="dashboard"),
    path("p/<slug:slug>/qr.svg", portal.qr_download, name="qr"),
    path("p/<slug:slug>/qr.png", portal.qr_download, {"fmt": "png"}, name="qr-png"),
    path("p/<slug:slug>/rewards/", portal.rewards, name="rewards"),
    path("p/<slug:slug>/rewards/redeem/", portal.redeem, name="redeem"),
    path("p/<slug:slug>/about/", portal.about, name="about"),
    path("payouts/<slug:slug>/setup/", views.payout_setup, name="payout-setup"),
    path("payouts/<slug:slug>/return/", views.payout_return, name="payout-return"),
]
