"""Page routes of this app, mounted at / by config.urls."""

from django.urls import path

from . import views

app_name = "nurture"

urlpatterns: list = [
    path("w/testimonials/<slug:slug>/", views.testimonials_widget, name="testimonials-widget"),
    path(
        "w/testimonials/photo/<int:testimonial_id>/",
        views.testimonial_photo,
        name="testimonial-photo",
    ),
]
