"""The Sites framework row that allauth brands its emails with.

Left alone it says "example.com"; after every ``migrate`` it takes the real
domain (from ``SITE_URL``) and a real name: ``SITE_NAME`` when set, else the
program's name when there is exactly one, else the domain.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sites.models import Site

from advocacy.models import Program


def site_name_and_domain() -> tuple[str, str]:
    domain = urlsplit(settings.SITE_URL).netloc or "localhost"
    name = getattr(settings, "SITE_NAME", "")
    if not name:
        names = list(Program.objects.order_by("pk").values_list("name", flat=True)[:2])
        name = names[0] if len(names) == 1 else domain
    return name[:50], domain[:100]


def site_sync(**kwargs) -> None:
    """Give the current Site the real name and domain (a post_migrate receiver)."""
    name, domain = site_name_and_domain()
    Site.objects.update_or_create(pk=settings.SITE_ID, defaults={"name": name, "domain": domain})
