"""A local webhook receiver and helpers for the outgoing-webhook tests."""

import dataclasses
import importlib.util
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from integrations.models import WebhookEndpoint

DOCS = Path(__file__).resolve().parents[2] / "docs" / "snippets"


def load_python_snippet():
    """docs/snippets/verify_webhook.py, imported by path exactly as merchants copy it."""
    spec = importlib.util.spec_from_file_location("verify_webhook", DOCS / "verify_webhook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers as told."""

    def __init__(self):
        self.requests: list[Received] = []
        self.fail_first = 0  # answer 500 to this many requests first
        self.sleep = 0.0  # seconds to wait before answering
        self.redirect_to = ""  # answer 302 to this location
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.receiver = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()  # wake a sleeping handler
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def record(self, request: Received) -> int:
        with self._lock:
            self.requests.append(request)
            return len(self.requests)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        receiver: Receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        number = receiver.record(Received(self.path, dict(self.headers.items()), body))
        if receiver.sleep:
            receiver._stop.wait(receiver.sleep)
        try:
            if receiver.redirect_to:
                self._answer(302, b"moved", Location=receiver.redirect_to)
            elif number <= receiver.fail_first:
                self._answer(500, b'{"error": "try again later"}')
            else:
                self._answer(200, b'{"received": true}')
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def _answer(self, status: int, body: bytes, **headers):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _webhook_settings(settings):
    # The receiver listens on 127.0.0.1, which production refuses to call.
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 5
    settings.WEBHOOK_RETRY_DELAYS = list(
        settings.WEBHOOK_RETRY_DELAYS_DEFAULT
    )  # whatever the env says


@pytest.fixture
def endpoint(program, receiver):
    return WebhookEndpoint.objects.create(program=program, url=receiver.url)


@pytest.fixture
def verify():
    return load_python_snippet().verify_webhook
