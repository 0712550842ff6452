import io
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import call_command

from advocacy.models import Program
from tests.conftest import _need

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets"


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (Debian's, not a downloaded build)."""
    _need(Path(CHROMIUM).exists(), f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # tests make between browser steps are still plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    """A fresh context (no cookies from other tests) and page."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(5000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str, target=None) -> Path:
        path = ARTIFACTS / f"storefront_{name}.png"
        (target or page).screenshot(path=str(path), full_page=True)
        return path

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


class _ShopHandler(BaseHTTPRequestHandler):
    pages: dict[str, str] = {}

    def do_GET(self):
        body = self.pages.get(self.path.split("?")[0])
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write((body or "not found").encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def merchant_site():
    """Another origin (a merchant's own site): ``add(path, html)``, then open ``url + path``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_ShopHandler,), {"pages": {}}))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    class Site:
        url = f"http://127.0.0.1:{server.server_port}"

        @staticmethod
        def add(path: str, html: str) -> None:
            server.RequestHandlerClass.pages[path] = html

    yield Site
    server.shutdown()
    server.server_close()
    thread.join()
