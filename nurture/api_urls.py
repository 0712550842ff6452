"""JSON API routes of this app, mounted under /api/v1/ by config.urls."""

from django.urls import path

from . import api

urlpatterns: list = [
    path("testimonials", api.TestimonialListApi.as_view(), name="nurture-testimonials"),
]
