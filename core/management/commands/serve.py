import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the web app; with a broker configured, also a Celery worker and beat."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000")
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, **options):
        worker = None
        if settings.CELERY_BROKER_URL:
            self.stdout.write("Starting a Celery worker with beat (broker configured).")
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-B", "-l", "info"]
            )
        else:
            self.stdout.write("No CELERY_BROKER_URL: tasks run in-process.")
        try:
            call_command("runserver", f"{options['host']}:{options['port']}", use_reloader=False)
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)
