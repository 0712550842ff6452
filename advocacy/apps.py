from django.apps import AppConfig


class AdvocacyConfig(AppConfig):
    name = "advocacy"
    verbose_name = "Programs and advocates"

    def ready(self):
        # Registered once the app registry is ready (they import models): the
        # OpenAPI description of API keys and the allauth receivers.
        from . import schema, signals  # noqa: F401
