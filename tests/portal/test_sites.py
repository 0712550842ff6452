"""Emails from allauth carry the real site name and domain, not "example.com"."""

from django.contrib.sites.models import Site

from portal.sites import site_sync


def test_the_site_takes_the_programs_name_and_the_real_domain(program, settings):
    settings.SITE_URL = "https://friends.acme.test"
    site_sync()
    site = Site.objects.get_current()
    assert (site.name, site.domain) == (program.name, "friends.acme.test")


def test_a_configured_site_name_wins(program, settings):
    settings.SITE_URL = "https://friends.acme.test"
    settings.SITE_NAME = "Acme rewards"
    site_sync()
    Site.objects.clear_cache()
    assert Site.objects.get_current().name == "Acme rewards"
