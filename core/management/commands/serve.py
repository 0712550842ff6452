"""``manage.py serve``: the app as ``make run`` serves it, with a production server.

Gunicorn serves the web app (static files through whitenoise) with a worker per
core and more; a Celery worker with beat runs beside it, so tasks and periodic
work (maturing rewards, payouts, sweeps) happen. Without ``CELERY_BROKER_URL``
they share an embedded broker: a folder of message files (``var/broker/``).
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand

EMBEDDED_BROKER = "filesystem://"
# Workers talk to the broker only for tasks. Gossip, mingle and event heartbeats are
# chatter between workers that nothing here reads, and with Redis they can leave a
# worker connected but consuming nothing after the broker restarts (celery#8030).
WORKER_FLAGS = ["--without-gossip", "--without-mingle", "--without-heartbeat"]
# A Celery worker that exits is started again after this pause, doubled at each exit
# in a row up to the last value; one that ran for RESTART_RESET seconds starts afresh.
RESTART_DELAYS = (1, 2, 4, 8, 16, 30)
RESTART_RESET = 60


@dataclass
class Child:
    """A process ``serve`` runs: restarted when it exits (the Celery worker), or the end
    of ``serve`` when it does (gunicorn, whose master restarts its own workers)."""

    name: str
    argv: list[str]
    restart: bool = False
    proc: subprocess.Popen | None = None
    started: float = 0.0
    exits: int = 0  # in a row
    due: float | None = None  # when to start it again
    starts: list[float] = field(default_factory=list)

    def start(self, env: dict, cwd) -> None:
        self.proc = subprocess.Popen(self.argv, env=env, cwd=cwd)  # noqa: S603
        self.started = time.monotonic()
        self.starts.append(self.started)
        self.due = None


def supervise(children: list[Child], *, env: dict, cwd, stopping: list, out=sys.stderr) -> None:
    """Start the children and keep them running until ``stopping`` is not empty or a
    child that is not restarted exits; then stop them all (SIGTERM, then SIGKILL after
    30 s). A restarted child's exit is written to ``out``. The Celery worker can die of a
    broker outage (kombu's redis transport ends it with "Unrecoverable error" when the
    connection drops at the wrong moment); what it had not done stays in the outbox and
    the queue, so it goes on when the worker is back."""
    for child in children:
        child.start(env, cwd)
    try:
        while not stopping:
            now = time.monotonic()
            ended = False
            for child in children:
                if child.due is not None:
                    if now >= child.due:
                        child.start(env, cwd)
                    continue
                code = child.proc.poll()
                if code is None:
                    continue
                if not child.restart:
                    ended = True
                    break
                if now - child.started >= RESTART_RESET:
                    child.exits = 0
                pause = RESTART_DELAYS[min(child.exits, len(RESTART_DELAYS) - 1)]
                child.exits += 1
                child.due = now + pause
                out.write(
                    f"serve: the {child.name} exited ({code}); starting it again in {pause} s.\n"
                )
                out.flush()
            if ended:
                break
            time.sleep(0.2)
    finally:
        running = [c.proc for c in children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


class Command(BaseCommand):
    help = "Serve the app with gunicorn, and a Celery worker with beat beside it."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--workers", type=int, default=None, help="Web workers (default: 2 x cores + 1)."
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="Serve the web app only (no Celery)."
        )

    def handle(self, *args, **options):
        env = dict(os.environ)
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)  # beat's schedule, spools
        if not settings.CELERY_BROKER_URL:
            # The web workers and the Celery worker must share a broker: an embedded one.
            env["CELERY_BROKER_URL"] = EMBEDDED_BROKER
        web = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py"]
        web += ["--bind", f"{options['host']}:{options['port']}"]
        if options["workers"]:
            web += ["--workers", str(options["workers"])]
        children = []
        if not options["no_worker"]:
            broker = env["CELERY_BROKER_URL"].split("://", 1)[0]
            self.stdout.write(f"Starting a Celery worker with beat ({broker} broker).")
            # Warnings only: a line per task (the outbox relay runs every 10 s) drowns the rest.
            worker = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-B",
                "-l",
                "warning",
                *WORKER_FLAGS,
            ]
            worker += ["-Q", ",".join(settings.CELERY_QUEUES_ALL)]
            worker += ["--schedule", str(settings.CELERY_BEAT_SCHEDULE_FILE)]
            children.append(Child("Celery worker", worker, restart=True))
        self.stdout.write(f"Serving on http://{options['host']}:{options['port']}/ (gunicorn).")
        children.append(Child("web server", web))
        stopping: list[int] = []

        def stop(signum, frame):
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        supervise(children, env=env, cwd=settings.BASE_DIR, stopping=stopping)
