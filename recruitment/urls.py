"""Page routes of this app, mounted at / by config.urls."""

from django.urls import path

from . import api, views

app_name = "recruitment"

urlpatterns: list = [
    path("recruit/i/<str:token>/", views.join, name="join"),
    path("recruit/o/<str:token>.gif", views.open_pixel, name="open"),
    path("recruit/u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("recruit/nps/<str:token>/<int:score>/", views.nps_answer, name="nps_answer"),
    path("webhooks/email/bounces", api.BounceWebhookApi.as_view(), name="email_bounces"),
]
