import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command

from advocacy.models import Program
from tests.conftest import _need

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WIDTHS = {"phone": 390, "desktop": 1280}


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (Debian's, not a downloaded build)."""
    _need(Path(CHROMIUM).exists(), f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": WIDTHS["desktop"], "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(10000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    """The page at phone and desktop widths: tests/artifacts/console_<name>_<width>.png."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str, on=None) -> None:
        target = on or page
        for label, width in WIDTHS.items():
            target.set_viewport_size({"width": width, "height": 900})
            target.screenshot(path=str(ARTIFACTS / f"console_{name}_{label}.png"), full_page=True)
        target.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})

    return take


@pytest.fixture
def demo(live_server, settings, transactional_db) -> Program:
    """The demo program, landing on the live server's demo shop."""
    settings.SITE_URL = live_server.url
    settings.DEMO_SHOP = True
    settings.DEBUG = True  # seed_demo's published keys: a development machine
    call_command("seed_demo", stdout=io.StringIO())
    settings.DEBUG = False
    return Program.objects.get(slug="demo")
