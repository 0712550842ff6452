from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The program managers' console: the Django admin over programs, referrals and rewards.

    It sits above the domain layers (like the portal does for advocates), so one
    admin page may show and act across them; every write goes through a service.
    """

    name = "console"
    verbose_name = "Program managers' console"
