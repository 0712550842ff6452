from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Plumbing every app may use: errors, money, API errors and parsers, email, CORS.

    It imports no domain app (checked by import-linter in ``make test``).
    """

    name = "core"
    verbose_name = "Core"
