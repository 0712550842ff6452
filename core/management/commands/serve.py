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

from django.conf import settings
from django.core.management.base import BaseCommand

EMBEDDED_BROKER = "filesystem://"
# Workers talk to the broker only for tasks. Gossip, mingle and event heartbeats are
# chatter between workers that nothing here reads, and with Redis they can leave a
# worker connected but consuming nothing after the broker restarts (celery#8030).
WORKER_FLAGS = ["--without-gossip", "--without-mingle", "--without-heartbeat"]


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
        processes = []
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
            processes.append(subprocess.Popen(worker, env=env, cwd=settings.BASE_DIR))  # noqa: S603
        self.stdout.write(f"Serving on http://{options['host']}:{options['port']}/ (gunicorn).")
        processes.append(
            subprocess.Popen(web, env=env, cwd=settings.BASE_DIR)  # noqa: S603
        )
        self._supervise(processes)

    def _supervise(self, processes) -> None:
        """Run until one process ends or we are told to stop; then stop them all."""
        stopping = []

        def stop(signum, frame):
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping and all(p.poll() is None for p in processes):
                time.sleep(0.2)
        finally:
            for p in processes:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in processes:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
