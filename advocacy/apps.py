from django.apps import AppConfig


class AdvocacyConfig(AppConfig):
    name = "advocacy"
    verbose_name = "Programs and advocates"

    def ready(self):
        from . import schema  # noqa: F401 - registers the OpenAPI auth extension
