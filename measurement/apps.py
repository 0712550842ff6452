from django.apps import AppConfig


class MeasurementConfig(AppConfig):
    name = "measurement"
    verbose_name = "Measurement"

    def ready(self):
        # Receivers connect once the app registry is ready (they import models).
        from referrals import sharing
        from rewards import variants

        from . import experiments, receivers  # noqa: F401

        # Offer experiments change what advocates earn and read (rewards asks us).
        variants.provider_register(experiments.advocate_offer)
        # Share-copy experiments change the texts advocates share (portal, widget, prompt).
        sharing.share_copy_register(experiments.advocate_share_copy)
