"""``manage.py serve``'s supervisor: the Celery worker is started again when it exits
(a broker outage can end it), and the web server's exit ends ``serve``."""

import io
import sys
import threading
import time

from core.management.commands import serve


def _child(name: str, code: str, **kwargs) -> serve.Child:
    return serve.Child(name, [sys.executable, "-c", code], **kwargs)


def test_a_worker_that_exits_is_started_again_with_a_growing_pause(monkeypatch, tmp_path):
    monkeypatch.setattr(serve, "RESTART_DELAYS", (0.2, 0.4, 10))
    worker = _child("Celery worker", "import sys; sys.exit(3)", restart=True)
    web = _child("web server", "import time; time.sleep(60)")
    stopping: list = []
    out = io.StringIO()
    threading.Timer(1.5, stopping.append, args=[15]).start()
    started = time.monotonic()
    serve.supervise([worker, web], env={}, cwd=tmp_path, stopping=stopping, out=out)

    # Started, exited, again after 0.2 s, exited, again after 0.4 s, exited: then 10 s.
    assert len(worker.starts) == 3
    gaps = [b - a for a, b in zip(worker.starts, worker.starts[1:], strict=False)]
    assert 0.2 <= gaps[0] < gaps[1] < 1.2
    assert "the Celery worker exited (3); starting it again in 0.2 s." in out.getvalue()
    assert "in 10 s." in out.getvalue()
    # Stopping ends the web server too (SIGTERM), well before its 60 s.
    assert web.proc.returncode is not None
    assert time.monotonic() - started < 10


def test_the_web_servers_exit_ends_serve_and_stops_the_worker(tmp_path):
    worker = _child("Celery worker", "import time; time.sleep(60)", restart=True)
    web = _child("web server", "import sys; sys.exit(1)")
    started = time.monotonic()
    serve.supervise([worker, web], env={}, cwd=tmp_path, stopping=[], out=io.StringIO())
    assert web.proc.returncode == 1
    assert worker.proc.returncode is not None  # stopped, not left running
    assert len(worker.starts) == 1
    assert time.monotonic() - started < 10
