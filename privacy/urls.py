from django.urls import path

from . import views

app_name = "privacy"

urlpatterns = [
    path("account/data.json", views.account_data, name="data"),
    path("account/delete/", views.account_delete, name="delete"),
    path("account/emails/", views.email_preferences, name="emails"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
