from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("join/<slug:slug>/", views.join, name="join"),
    path("p/<slug:slug>/", views.dashboard, name="dashboard"),
    path("p/<slug:slug>/qr.svg", views.qr_download, name="qr"),
    path("p/<slug:slug>/qr.png", views.qr_download, {"fmt": "png"}, name="qr-png"),
    path("p/<slug:slug>/rewards/", views.rewards, name="rewards"),
    path("p/<slug:slug>/rewards/redeem/", views.redeem, name="redeem"),
    path("p/<slug:slug>/about/", views.about, name="about"),
    path("payouts/<slug:slug>/setup/", views.payout_setup, name="payout-setup"),
    path("payouts/<slug:slug>/return/", views.payout_return, name="payout-return"),
]
