"""Real Celery worker processes for integration tests (Redis broker, this test's database)."""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from django.conf import settings

from config.celery import app

ROOT = Path(__file__).resolve().parent.parent


def _reroute() -> None:
    # Celery caches its routing table and the router built from it: rebuild both.
    app.amqp.flush_routes()
    app.amqp.router = app.amqp.Router()


@contextlib.contextmanager
def task_queue():
    """Route all of this test's tasks to a queue of its own (parallel test runs stay apart)."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    previous = app.conf.task_default_queue, app.conf.task_always_eager, app.conf.task_routes
    app.conf.task_default_queue = queue
    app.conf.task_always_eager = False  # tasks go through Redis to the worker
    app.conf.task_routes = None  # no emails/money queues: the one test queue
    _reroute()
    try:
        yield queue
    finally:
        app.conf.task_default_queue, app.conf.task_always_eager, app.conf.task_routes = previous
        _reroute()


def start_worker(queue: str, **env) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    full_env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CELERY_QUEUE_ROUTING": "0",
        "SITE_URL": "http://testserver",
        **env,
    }
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed with the process
        "w", prefix=f"celery-{queue}-", suffix=".log", delete=False
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo",
         "-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
        cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    proc.log = log
    return proc


def stop_worker(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.log.close()


@contextlib.contextmanager
def celery_worker(**env):
    with task_queue() as queue:
        proc = start_worker(queue, **env)
        try:
            yield proc
        finally:
            stop_worker(proc)
