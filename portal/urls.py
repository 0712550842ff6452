from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("join/<slug:slug>/", views.join, name="join"),
    path("p/<slug:slug>/", views.dashboard, name="dashboard"),
    path("p/<slug:slug>/shared/", views.share_made, name="share-made"),
    path("p/<slug:slug>/qr.svg", views.qr_download, name="qr"),
    path("p/<slug:slug>/qr.png", views.qr_download, {"fmt": "png"}, name="qr-png"),
    path("p/<slug:slug>/rewards/", views.rewards, name="rewards"),
    path("p/<slug:slug>/rewards/redeem/", views.redeem, name="redeem"),
    path("p/<slug:slug>/about/", views.about, name="about"),
    path("p/<slug:slug>/vip/", views.club, name="club"),
    path("p/<slug:slug>/vip/profile/", views.club_profile, name="club-profile"),
    path("p/<slug:slug>/challenges/", views.challenges, name="challenges"),
    path(
        "p/<slug:slug>/challenges/<int:challenge_id>/enter/",
        views.challenge_submit,
        name="challenge-submit",
    ),
    path("p/<slug:slug>/testimonial/", views.testimonial_submit, name="testimonial-submit"),
    path("p/<slug:slug>/ideas/", views.ideas, name="ideas"),
    path("p/<slug:slug>/ideas/new/", views.idea_create, name="idea-create"),
    path("p/<slug:slug>/ideas/<int:suggestion_id>/vote/", views.idea_vote, name="idea-vote"),
    path("payouts/<slug:slug>/setup/", views.payout_setup, name="payout-setup"),
    path("payouts/<slug:slug>/return/", views.payout_return, name="payout-return"),
]
