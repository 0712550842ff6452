from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Merchant webhooks and Stripe events"

    def ready(self):
        # Receivers connect once the app registry is ready (they import models).
        from . import receivers  # noqa: F401
