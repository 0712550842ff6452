from django.apps import AppConfig


class MeasurementConfig(AppConfig):
    name = "measurement"
    verbose_name = "Measurement"

    def ready(self):
        # Receivers connect once the app registry is ready (they import models).
        from . import receivers  # noqa: F401
