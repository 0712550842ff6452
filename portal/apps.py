from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Advocate portal"

    def ready(self):
        from .sites import site_sync

        # After the sites app made its default row (the portal has no models of its own,
        # so migrate sends it no signal).
        post_migrate.connect(
            site_sync, sender=apps.get_app_config("sites"), dispatch_uid="portal.site_sync"
        )
