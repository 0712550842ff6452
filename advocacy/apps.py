from django.apps import AppConfig


class AdvocacyConfig(AppConfig):
    name = "advocacy"
    verbose_name = "Programs and advocates"

    def ready(self):
        from . import schema, signals  # noqa: F401 - OpenAPI auth extension, allauth receivers
