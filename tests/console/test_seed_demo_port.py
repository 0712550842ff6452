"""``make run PORT=…`` again on another port: the demo's links follow it."""

from io import StringIO

from django.core.management import call_command

from advocacy.models import Program
from storefront import demo


def test_seed_demo_moves_the_landing_url_to_the_port_served(db, client, settings):
    settings.DEBUG = True  # a development machine (the test runner turns DEBUG off)
    settings.SITE_URL = "http://127.0.0.1:8801"
    call_command("seed_demo", stdout=StringIO())
    settings.SITE_URL = "http://127.0.0.1:8802"
    call_command("seed_demo", stdout=StringIO())
    program = Program.objects.get(slug=demo.DEMO_SLUG)
    assert program.landing_url == "http://127.0.0.1:8802/demo-shop/"
    response = client.get(f"/r/{demo.DEMO_ADVOCATE_CODE}")
    assert response["Location"].startswith("http://127.0.0.1:8802/demo-shop/")
