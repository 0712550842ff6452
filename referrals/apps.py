from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = "Referrals"

    def ready(self):
        # Receivers connect once the app registry is ready (they import models).
        from . import receivers  # noqa: F401
