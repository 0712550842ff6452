from django.apps import AppConfig


class FraudConfig(AppConfig):
    name = "fraud"
    verbose_name = "Fraud"

    def ready(self):
        # Receivers connect once the app registry is ready (they import models).
        from . import receivers  # noqa: F401
