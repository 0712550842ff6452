from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "storefront"
    verbose_name = "Storefront integration (embed script, widget, demo shop)"

    def ready(self):
        # The portal's share buttons tell referrals; placements are recorded here.
        from referrals.sharing import share_recorder_register

        from .services import advocate_share_record

        share_recorder_register(advocate_share_record)
