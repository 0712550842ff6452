"""JSON API routes of this app, mounted under /api/v1/ by config.urls."""

from django.urls import path

from . import api

urlpatterns: list = [
    path("metrics", api.MetricsApi.as_view(), name="metrics"),
    path("metrics/by/<str:by>", api.MetricsBreakdownApi.as_view(), name="metrics-by"),
]
