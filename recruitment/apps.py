from django.apps import AppConfig


class RecruitmentConfig(AppConfig):
    name = "recruitment"
    verbose_name = "Recruitment"

    def ready(self):
        # Receivers connect once the app registry is ready (they import models).
        from . import receivers  # noqa: F401
