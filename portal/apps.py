from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Advocate portal"

    def ready(self):
        from .sites import site_sync

        post_migrate.connect(site_sync, sender=self, dispatch_uid="portal.site_sync")
