"""Scale-out on one machine: two web instances behind nginx, two Celery workers, one beat.

Run from anywhere (see README.md, "Scale-out")::

    .venv/bin/python bench/scaleout.py [--duration 40] [--settle-timeout 240]

Everything listens on 127.0.0.1 and is started (and stopped) by this script: a
PostgreSQL database of its own (``scaleout_<id>``, dropped at the end), an empty
Redis database number with a default queue of its own, a fake Stripe
(``tests.fake_stripe.FakeStripe``) and a webhook receiver in this process, two
gunicorn instances (``config/gunicorn.py``, 2 workers each, own control sockets),
nginx in front of them (``deploy/nginx.conf`` on plain HTTP), a Celery worker for
``money,emails``, one for the default queue, and ``celery beat``.

Load goes through nginx: clicks (``GET /r/DEMO2345``) and conversions (``POST
/api/v1/conversions``, a new order each). Meanwhile gunicorn workers are SIGKILLed, and
so are the ``money,emails`` worker (mid-way through a payout: Stripe made the transfer,
its answer is held back) and the default-queue worker (mid-way through a webhook: the
receiver has it, its answer is held back); both are restarted. Then the script waits
for the system to settle and checks: no click lost, every order recorded once, payouts
equal to the ledger and to the fake Stripe's transfers (one transfer per payout), every
webhook event received, the outbox empty.

Exit status: 0 when every check holds, 1 when one fails, 2 when the setup failed or the
run was interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # ``tests.fake_stripe`` and the Django project
from core.management.commands.serve import WORKER_FLAGS  # noqa: E402 - as make run starts them

VENV_BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
PG_ARGS = ["-h", HOST, "-p", "5432", "-U", "postgres"]
REDIS_PORT = 6379
REDIS_DBS = range(9, 16)  # the first empty one is used unless --redis-db says otherwise
REDIS_CLAIM_KEY = "scaleout:claim"
DEMO_SLUG = "demo"  # storefront/demo.py
DEMO_CODE = "DEMO2345"
DEMO_SECRET_KEY = "sk_demo_0000000000000000000000000000demo"  # noqa: S105 - published demo key
WEB_WORKERS = 2
KEEP_ENV = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "TERM"}
WORKER_CONCURRENCY = 2
MONEY_QUEUES = "money,emails"
# Longest wait, once a worker's kill is armed, for it to be mid-way (run_payouts comes
# every RUN_PAYOUTS_EVERY_MINUTES = 12 s here; webhooks flow all the time).
ARM_WAIT = {"money": 30.0, "default": 4.0}


def log(message: str) -> None:
    print(f"[scaleout] {message}", file=sys.stderr, flush=True)


class SetupError(RuntimeError):
    pass


class Interrupted(BaseException):
    """SIGTERM, SIGHUP or the overall time limit: unwind to the cleanup."""


# --- children -----------------------------------------------------------------------------


class Child:
    """A process of ours in a process group of its own, its output in a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path):
        self.name, self.cmd, self.env, self.log_path = name, cmd, env, log_path
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Child:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches its children
            )
        self.started_at = time.monotonic()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(empty log)"

    def signal_group(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def stop(self, *, sig: int = signal.SIGTERM, group: bool = True, timeout: float = 20) -> None:
        """``sig`` to the group (or the leader only), SIGKILL to whatever is left after."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if group:
                self.signal_group(sig)
            else:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within {timeout:.0f} s: SIGKILL")
        self.signal_group(signal.SIGKILL)  # stragglers of the group (pool processes, workers)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


PORT_RANGE: list[int] = []  # --port-base: ports are taken from here (a shared machine)


def free_port() -> int:
    while PORT_RANGE:
        port = PORT_RANGE.pop(0)
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(raw[raw.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def machine_cpu_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def percentiles(values: list[float]) -> str:
    if not values:
        return "no responses"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    top = ordered[-1] * 1000
    return f"p50 {at(0.5):.0f} ms, p90 {at(0.9):.0f} ms, p99 {at(0.99):.0f} ms, max {top:.0f} ms"


def http_get(port: int, path: str, timeout: float = 5) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": HOST})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_for(what: str, ready, *, timeout: float, child: Child | None = None) -> float:
    """Poll ``ready()`` until true; seconds it took. SetupError on timeout or a dead child."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if child is not None and not child.alive():
            raise SetupError(f"{what}: process exited\n{child.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if ready():
                return time.monotonic() - started
        time.sleep(0.2)
    tail = f"\n{child.log_tail()}" if child is not None else ""
    raise SetupError(f"{what}: not ready after {timeout:.0f} s{tail}")


# --- the webhook receiver -----------------------------------------------------------------


class Receiver:
    """Counts POSTs by ``Advocacy-Event-Id``; every ``fail_every``-th answered 503.

    ``hold_next(seconds)``: the next event accepted is counted as received, then its
    answer is held back that long (the sender is killed meanwhile, see ``arm``).
    """

    def __init__(self, fail_every: int):
        self.fail_every = fail_every
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.hold_seconds = 0.0
        self.held: str | None = None  # the event id whose answer was held back
        self.posts = 0
        self.ok: Counter[str] = Counter()  # event id -> 2xx answers
        self.refused: Counter[str] = Counter()  # event id -> injected 503s
        self.server = ThreadingHTTPServer((HOST, free_port()), _ReceiverHandler)
        self.server.daemon_threads = True
        self.server.receiver = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/hooks"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def hold_next(self, seconds: float) -> None:
        with self.lock:
            self.hold_seconds, self.held = seconds, None

    def record(self, event_id: str) -> tuple[bool, float]:
        """(answer 2xx?, seconds to hold the answer back)."""
        with self.lock:
            self.posts += 1
            if self.fail_every and self.posts % self.fail_every == 0:
                self.refused[event_id] += 1
                return False, 0.0
            self.ok[event_id] += 1
            hold, self.hold_seconds = self.hold_seconds, 0.0
            if hold:
                self.held = event_id
            return True, hold


class _ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        receiver = self.server.receiver
        accepted, hold = receiver.record(self.headers.get("Advocacy-Event-Id", ""))
        if hold:
            receiver.stopping.wait(hold)
        body = b'{"received": true}' if accepted else b'{"error": "try again"}'
        with contextlib.suppress(OSError):  # a sender killed meanwhile
            self.send_response(200 if accepted else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format, *args):
        pass


# --- Redis --------------------------------------------------------------------------------


class RedisDb:
    """An empty Redis database number, claimed for this run; our keys deleted at the end."""

    def __init__(self, wanted: int | None, run_id: str):
        import redis

        self.run_id = run_id
        self.db = None
        candidates = [wanted] if wanted is not None else list(REDIS_DBS)
        for db in candidates:
            client = redis.Redis(host=HOST, port=REDIS_PORT, db=db, socket_timeout=5)
            if client.dbsize() == 0 and client.set(REDIS_CLAIM_KEY, run_id, nx=True, ex=3600):
                self.db, self.client = db, client
                return
            client.close()
        raise SetupError(
            f"no empty Redis database among {candidates} on {HOST}:{REDIS_PORT}"
            " (--redis-db picks one; it must be empty)"
        )

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{REDIS_PORT}/{self.db}"

    def unacked_by_queue(self) -> Counter[str]:
        """Messages a worker took but has not acknowledged yet, per routing key (= queue)."""
        found: Counter[str] = Counter()
        for raw in self.client.hvals("unacked"):
            with contextlib.suppress(ValueError, IndexError, TypeError):
                found[json.loads(raw)[2]] += 1
        return found

    def queue_lengths(self, queues: list[str]) -> dict[str, int]:
        return {q: self.client.llen(q) for q in queues}

    def cleanup(self, queues: list[str]) -> int:
        """Delete what Celery and kombu made here for this run; returns keys left over."""
        ours = ("_kombu", "unacked", *queues)
        for key in self.client.scan_iter(count=500):
            name = key.decode(errors="replace")
            if name.startswith(ours) or name.endswith(".reply.celery.pidbox"):
                self.client.delete(key)
        if self.client.get(REDIS_CLAIM_KEY) == self.run_id.encode():
            self.client.delete(REDIS_CLAIM_KEY)
        return self.client.dbsize()


# --- load ---------------------------------------------------------------------------------


@dataclass
class LoadStats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    click_ids: list[str] = field(default_factory=list)  # from the 302s
    click_status: Counter = field(default_factory=Counter)  # status or error name -> count
    conv_status: Counter = field(default_factory=Counter)
    click_seconds: list[float] = field(default_factory=list)  # latency of answered requests
    conv_seconds: list[float] = field(default_factory=list)
    orders_201: list[str] = field(default_factory=list)
    orders_unsure: list[str] = field(default_factory=list)  # no 201: sent again after the run
    orders_sent: int = 0


def conversion_body(order_id: str) -> str:
    return json.dumps(
        {
            "order_id": order_id,
            "amount": "49.90",
            "currency": "EUR",
            "customer": {"email": f"buyer-{order_id}@example.com"},
            "referral_code": DEMO_CODE,
        }
    )


class Client:
    """One keep-alive connection to nginx, reopened after an error."""

    def __init__(self, port: int, timeout: float):
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: str | None = None, headers=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers={"Host": HOST, **(headers or {})})
            response = self.conn.getresponse()
            response.read()
            if response.will_close:
                self.close()
            return response
        except (OSError, http.client.HTTPException):
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


CONVERSION_HEADERS = {
    "Authorization": f"Bearer {DEMO_SECRET_KEY}",
    "Content-Type": "application/json",
}


def paced(stop: threading.Event, rate: float):
    """Yield at ``rate`` per second until ``stop`` (no bursts to catch up after a stall)."""
    interval = 1.0 / rate
    next_at = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if next_at > now:
            stop.wait(next_at - now)
            if stop.is_set():
                return
        else:
            next_at = max(next_at, now - interval)
        next_at += interval
        yield


def click_loop(port: int, rate: float, stop: threading.Event, stats: LoadStats) -> None:
    client = Client(port, timeout=10)
    for _ in paced(stop, rate):
        started = time.monotonic()
        try:
            response = client.request("GET", f"/r/{DEMO_CODE}", headers={"User-Agent": "scaleout"})
        except (OSError, http.client.HTTPException) as exc:
            with stats.lock:
                stats.click_status[type(exc).__name__] += 1
            continue
        location = response.getheader("Location", "")
        match = re.search(r"[?&]click=([0-9a-f-]{36})", location)
        with stats.lock:
            stats.click_seconds.append(time.monotonic() - started)
            stats.click_status[str(response.status)] += 1
            if response.status == 302 and match:
                stats.click_ids.append(match.group(1))
    client.close()


def conversion_loop(
    port: int, rate: float, stop: threading.Event, stats: LoadStats, prefix: str
) -> None:
    client = Client(port, timeout=30)
    for n, _ in enumerate(paced(stop, rate)):
        order_id = f"{prefix}-{n}"
        started = time.monotonic()
        try:
            response = client.request(
                "POST", "/api/v1/conversions", conversion_body(order_id), CONVERSION_HEADERS
            )
            outcome = str(response.status)
            with stats.lock:
                stats.conv_seconds.append(time.monotonic() - started)
        except (OSError, http.client.HTTPException) as exc:
            outcome = type(exc).__name__
        with stats.lock:
            stats.orders_sent += 1
            stats.conv_status[outcome] += 1
            (stats.orders_201 if outcome == "201" else stats.orders_unsure).append(order_id)
    client.close()


def resend_orders(port: int, orders: list[str]) -> dict[str, str]:
    """Send orders that got no 201 again, same order id: 200 (it was recorded) or 201."""
    client = Client(port, timeout=30)
    final = {}
    for order_id in orders:
        for attempt in range(5):
            try:
                response = client.request(
                    "POST", "/api/v1/conversions", conversion_body(order_id), CONVERSION_HEADERS
                )
                final[order_id] = str(response.status)
                if response.status in (200, 201):
                    break
            except (OSError, http.client.HTTPException) as exc:
                final[order_id] = type(exc).__name__
            time.sleep(1 + attempt)
    client.close()
    return final


# --- the run ------------------------------------------------------------------------------


class ScaleOut:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.run_id = secrets.token_hex(3)
        self.name = f"scaleout_{self.run_id}"  # the database and the default queue
        self.default_queue = self.name
        self.queues = [self.default_queue, "money", "emails"]
        self.began = self.load_started = time.monotonic()  # load_started: set again later
        self.tmp = Path(tempfile.mkdtemp(prefix=f"scaleout-{self.run_id}-"))
        self.children: list[Child] = []
        self.events: list[str] = []
        self.db_created = False
        self.redis: RedisDb | None = None
        self.fake = None
        self.receiver: Receiver | None = None
        self.django_ready = False
        self.stop_load = threading.Event()
        self.load_threads: list[threading.Thread] = []
        self.stats = LoadStats()
        self.web: list[Child] = []
        self.web_ports: list[int] = []
        self.workers: dict[str, Child] = {}
        self.worker_logs: list[Path] = []
        self.nginx: Child | None = None
        self.nginx_port = 0
        self.kills = Counter()
        self.restarting: list[Child] = []
        self.armed: dict[str, float] = {}  # worker key -> when to kill it regardless
        self.cut_payout: tuple[int, str] | None = None  # (payout id, transfer id)
        self.cut_event: str | None = None  # the webhook event id whose answer was held

    def event(self, message: str) -> None:
        line = f"t+{time.monotonic() - self.load_started:5.1f}s  {message}"
        self.events.append(line)
        log(line)

    # -- setup

    def start_services(self) -> None:
        args = self.args
        from tests.fake_stripe import FakeStripe

        self.fake = FakeStripe(port=free_port()).start()
        self.receiver = Receiver(args.receiver_fail_every).start()
        self.redis = RedisDb(args.redis_db, self.run_id)
        self.nginx_port = free_port()
        self.web_ports = [free_port(), free_port()]
        self.env = self.make_env()
        log(f"run {self.run_id}: temp dir {self.tmp}")
        log(f"creating database {self.name}")
        subprocess.run(["createdb", *PG_ARGS, self.name], check=True, timeout=60)
        self.db_created = True
        # seed_demo with DEBUG=1: the documented demo keys (with DEBUG=0 it refuses them);
        # this throwaway database is not a site.
        for command, debug in ((["migrate", "--noinput", "-v", "0"], "0"), (["seed_demo"], "1")):
            log(f"manage.py {command[0]}")
            out = subprocess.run(
                [str(VENV_BIN / "python"), "manage.py", *command],
                cwd=ROOT,
                env={**self.env, "DEBUG": debug},
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if out.returncode != 0:
                raise SetupError(f"manage.py {command[0]} failed:\n{out.stdout}\n{out.stderr}")
        self.setup_django()

    def make_env(self) -> dict[str, str]:
        # Only the basics of the caller's environment: settings come from here alone.
        env = {k: v for k, v in os.environ.items() if k in KEEP_ENV or k.startswith("LC_")}
        if (ROOT / ".env").is_file():
            # settings.py fills unset variables from .env: keep emails on the console.
            env["EMAIL_URL"] = "consolemail://"
        (self.tmp / "clicks").mkdir()
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "PYTHONUNBUFFERED": "1",
                "DEBUG": "0",
                "SECRET_KEY": f"scaleout-bench-{secrets.token_urlsafe(48)}",
                "ALLOWED_HOSTS": HOST,
                "SITE_URL": f"http://{HOST}:{self.nginx_port}",
                "SECURE_SSL_REDIRECT": "0",
                "DATABASE_URL": f"postgres://postgres@{HOST}:5432/{self.name}",
                "CELERY_BROKER_URL": self.redis.url,
                "CELERY_TASK_DEFAULT_QUEUE": self.default_queue,
                # A task of a killed worker comes back after this (production: 3600 s),
                # looked for every CELERY_RESTORE_INTERVAL s.
                "CELERY_VISIBILITY_TIMEOUT": str(self.args.visibility_timeout),
                "CELERY_RESTORE_INTERVAL": "5",
                "CELERY_RESTORE_THROTTLE": "1",
                "CLICK_SPOOL_DIR": str(self.tmp / "clicks"),
                # The load comes from one address: counted, never past the limit.
                "REDIRECT_RATE_PER_IP": "1000000000/m",
                "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
                "WEBHOOK_RETRY_DELAYS": "1,1,1,1,1",
                "WEBHOOK_TIMEOUT_SECONDS": "5",
                "STRIPE_API_KEY": "sk_test_scaleout",
                "STRIPE_API_BASE": self.fake.url,
                "STRIPE_TIMEOUT_SECONDS": "10",
                "OUTBOX_RELAY_EVERY_SECONDS": "5",
                "MATURE_REWARDS_EVERY_MINUTES": "0.1",
                "RUN_PAYOUTS_EVERY_MINUTES": "0.2",
                "WEB_CONCURRENCY": str(WEB_WORKERS),
                "LOG_LEVEL": "INFO",
            }
        )
        return env

    def setup_django(self) -> None:
        """The demo program, a webhook endpoint and payout accounts, through the services."""
        os.environ.clear()
        os.environ.update(self.env)
        import django

        django.setup()
        self.django_ready = True
        from advocacy.models import Advocate, Program
        from advocacy.services import program_save
        from integrations.models import WebhookEndpoint
        from integrations.services import endpoint_save
        from rewards import payouts
        from rewards.models import PayoutAccount
        from storefront import demo

        assert (demo.DEMO_SLUG, demo.DEMO_ADVOCATE_CODE) == (DEMO_SLUG, DEMO_CODE)
        assert demo.DEMO_SECRET_KEY == DEMO_SECRET_KEY
        program = Program.objects.get(slug=DEMO_SLUG)
        program.hold_days = 0
        program.min_payout_minor = self.args.min_payout_minor
        program.payout_approval_above_minor = None
        changed = ["hold_days", "min_payout_minor", "payout_approval_above_minor"]
        program_save(program=program, actor=None, changed=changed)
        self.endpoint = endpoint_save(
            endpoint=WebhookEndpoint(program=program, url=self.receiver.url),
            changed=["url"],
        )
        site = self.env["SITE_URL"]
        self.advocates = list(Advocate.objects.filter(program=program).order_by("pk"))
        for advocate in self.advocates:
            url = payouts.payout_account_onboarding_url(
                advocate=advocate, refresh_url=f"{site}/", return_url=f"{site}/back"
            )
            assert url.startswith(self.fake.url), url
            account = PayoutAccount.objects.get(advocate=advocate)
            self.fake.onboard(account.stripe_account_id)
            payouts.payout_account_refresh(account=account)
            if not account.payouts_enabled:
                raise SetupError(f"payout account of {advocate.email} not enabled")
        self.program = program
        log(
            f"demo program: hold_days 0, min payout {program.min_payout_minor}; "
            f"webhook endpoint {self.receiver.url}; payout accounts for "
            + ", ".join(a.email for a in self.advocates)
        )

    def start_web(self) -> None:
        for i, port in enumerate(self.web_ports, 1):
            child = Child(
                f"web{i}",
                [
                    str(VENV_BIN / "gunicorn"),
                    "-c",
                    "config/gunicorn.py",
                    "--bind",
                    f"{HOST}:{port}",
                    "--workers",
                    str(WEB_WORKERS),
                    "--control-socket",
                    str(self.tmp / f"web-{port}.ctl"),
                ],
                self.env,
                self.tmp / f"web{i}-{port}.log",
            )
            self.children.append(child.start())
            self.web.append(child)
        for child, port in zip(self.web, self.web_ports, strict=True):

            def healthy(port=port):
                status, body = http_get(port, "/healthz")
                return status == 200 and json.loads(body).get("status") == "ok"

            wait_for(f"gunicorn :{port}", healthy, timeout=90, child=child)
            wait_for(
                f"gunicorn :{port} workers",
                lambda child=child: len(children_of(child.pid)) >= WEB_WORKERS,
                timeout=30,
                child=child,
            )

    def nginx_conf(self) -> str:
        """deploy/nginx.conf's proxying, on plain HTTP, upstreams at the two gunicorns."""
        d = self.tmp / "nginx"
        user = "user www-data;\n" if os.geteuid() == 0 else ""
        servers = "\n".join(
            f"        server {HOST}:{port} max_fails=3 fail_timeout=5s;" for port in self.web_ports
        )
        return f"""# Generated by bench/scaleout.py from deploy/nginx.conf: plain HTTP on {HOST},
# no TLS, no /static/ alias (the load is API and redirect traffic only).
{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    log_format scaleout '$request_method $uri $status "$upstream_addr" "$upstream_status"';
    access_log {d}/access.log scaleout;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    upstream advocacy_web {{
{servers}
        keepalive 16;
    }}

    # Any other host name: no answer.
    server {{
        listen {HOST}:{self.nginx_port} default_server;
        return 444;
    }}

    server {{
        listen {HOST}:{self.nginx_port};
        server_name {HOST};

        client_max_body_size 10m;

        gzip on;
        gzip_vary on;
        gzip_proxied any;
        gzip_comp_level 5;
        gzip_min_length 1024;
        gzip_types text/css text/plain text/xml application/javascript application/json
                   application/xml image/svg+xml;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-Host $host;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_connect_timeout 5s;
        proxy_read_timeout 60s;
        proxy_next_upstream error timeout;
        proxy_next_upstream_tries 2;
        proxy_next_upstream_timeout 10s;

        location / {{
            proxy_pass http://advocacy_web;
        }}
    }}
}}
"""

    def start_nginx(self) -> None:
        d = self.tmp / "nginx"
        d.mkdir()
        conf = d / "nginx.conf"
        conf.write_text(self.nginx_conf())
        # nginx's workers (www-data when we are root) may need to reach its temp folders.
        self.tmp.chmod(0o711)
        d.chmod(0o755)
        cmd = ["nginx", "-p", f"{d}/", "-c", str(conf), "-e", str(d / "error.log")]
        test = subprocess.run([*cmd, "-t"], capture_output=True, text=True, timeout=30)
        if test.returncode != 0:
            raise SetupError(f"nginx -t failed:\n{test.stderr}")
        self.nginx = Child("nginx", [*cmd, "-g", "daemon off;"], self.env, d / "stdout.log")
        self.children.append(self.nginx.start())

        def healthy():
            status, body = http_get(self.nginx_port, "/healthz")
            return status == 200 and json.loads(body).get("status") == "ok"

        wait_for("nginx", healthy, timeout=30, child=self.nginx)

    def worker_cmd(self, queues: str, node: str) -> list[str]:
        return [
            str(VENV_BIN / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "--hostname",
            f"{node}@scaleout-{self.run_id}",
            "--concurrency",
            str(WORKER_CONCURRENCY),
            "--loglevel",
            "INFO",
            *WORKER_FLAGS,
        ]

    def start_worker(self, key: str) -> Child:
        queues = MONEY_QUEUES if key == "money" else self.default_queue
        node = "money-emails" if key == "money" else "default"
        number = sum(1 for p in self.worker_logs if p.name.startswith(f"worker-{key}")) + 1
        log_path = self.tmp / f"worker-{key}.{number}.log"
        self.worker_logs.append(log_path)
        child = Child(f"worker {queues}", self.worker_cmd(queues, node), self.env, log_path)
        self.children.append(child.start())
        self.workers[key] = child
        return child

    @staticmethod
    def worker_ready(child: Child) -> bool:
        return " ready." in child.log_text()

    def start_celery(self) -> None:
        for key in ("money", "default"):
            child = self.start_worker(key)
            wait_for(child.name, lambda c=child: self.worker_ready(c), timeout=90, child=child)
        beat = Child(
            "beat",
            [
                str(VENV_BIN / "celery"),
                "-A",
                "config",
                "beat",
                "--schedule",
                str(self.tmp / "celerybeat-schedule"),
                "--loglevel",
                "INFO",
            ],
            self.env,
            self.tmp / "beat.log",
        )
        self.children.append(beat.start())
        self.beat = beat
        wait_for("celery beat", lambda: "beat: Starting" in beat.log_text(), timeout=60, child=beat)

    # -- chaos

    def kill_web_worker(self, index: int) -> None:
        master = self.web[index]
        workers = children_of(master.pid)
        if not workers:
            self.event(f"web{index + 1}: no worker to kill")
            return
        victim = random.choice(workers)
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
        self.kills["web"] += 1
        started = time.monotonic()
        replacement = []
        while time.monotonic() - started < 10:
            now = [p for p in children_of(master.pid) if p not in workers]
            if now and len(children_of(master.pid)) >= WEB_WORKERS:
                replacement = now
                break
            time.sleep(0.1)
        after = (
            f"respawned as {replacement[0]} after {time.monotonic() - started:.1f} s"
            if replacement
            else "NOT respawned within 10 s"
        )
        self.event(
            f"SIGKILL gunicorn worker {victim} of web{index + 1} "
            f"(:{self.web_ports[index]}, master {master.pid}): {after}"
        )

    def arm(self, key: str) -> None:
        """Make the next kill of this worker land mid-way through its work.

        money: the fake Stripe makes the next transfer, then holds its answer back
        (``hang`` ``when="after"``), so the worker dies between Stripe's transfer and
        the payout's "paid". default: the receiver takes the next webhook, then holds
        its answer, so the worker dies between the POST and recording its outcome.
        The kill comes when that happens, or after ``ARM_WAIT`` seconds regardless.
        """
        if key == "money":
            with self.fake._lock:
                self.transfers_before = set(self.fake.transfers)
            self.fake.hang("/v1/transfers", seconds=60, method="POST", when="after")
            self.armed[key] = time.monotonic() + ARM_WAIT["money"]
            what = "the fake Stripe will hold back its answer to the next transfer"
        else:
            self.receiver.hold_next(8)
            self.armed[key] = time.monotonic() + ARM_WAIT["default"]
            what = "the webhook receiver will hold back its answer to the next event"
        self.event(f"armed the {key} worker's kill: {what}")

    def mid_way(self, key: str) -> str:
        """What the armed worker is in the middle of ("" while nothing yet)."""
        if key == "money":
            with self.fake._lock:
                new = [t for i, t in self.fake.transfers.items() if i not in self.transfers_before]
            if not new:
                return ""
            transfer = new[0]
            self.cut_payout = (int(transfer["metadata"]["payout_id"]), transfer["id"])
            return (
                f"payout {self.cut_payout[0]}'s transfer {transfer['id']} made at the fake "
                "Stripe, its answer not yet back"
            )
        with self.receiver.lock:
            held = self.receiver.held
        if not held:
            return ""
        self.cut_event = held
        return f"webhook event {held} received by the receiver, its answer not yet back"

    def check_armed(self) -> list[str]:
        """Kill the armed workers whose moment came; the keys killed."""
        killed = []
        for key, deadline in list(self.armed.items()):
            detail = self.mid_way(key)
            if detail or time.monotonic() >= deadline:
                del self.armed[key]
                if key == "money":
                    self.fake.clear_failures()  # if no transfer came
                else:
                    self.receiver.hold_next(0)
                self.kill_celery_worker(key, detail or f"nothing mid-way within {ARM_WAIT[key]} s")
                killed.append(key)
        return killed

    def kill_celery_worker(self, key: str, detail: str) -> None:
        child = self.workers[key]
        queues = {"money", "emails"} if key == "money" else {self.default_queue}
        unacked = self.redis.unacked_by_queue()
        held = sum(n for q, n in unacked.items() if q in queues)
        pool = children_of(child.pid)
        child.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.proc.wait(timeout=5)
        self.kills[key] += 1
        self.event(
            f"SIGKILL celery worker {child.name.removeprefix('worker ')} (process group: main "
            f"{child.pid} + {len(pool)} pool processes) with {detail}; messages of its "
            f"queues taken and not acknowledged: {held}"
        )

    def restart_celery_worker(self, key: str) -> None:
        """Start the worker again; ``watch_restarts`` reports when it is ready."""
        child = self.start_worker(key)
        self.restarting.append(child)
        self.event(
            f"restarting celery worker {child.name.removeprefix('worker ')}: pid {child.pid}"
        )

    def watch_restarts(self) -> None:
        for child in list(self.restarting):
            if self.worker_ready(child):
                self.restarting.remove(child)
                took = time.monotonic() - child.started_at
                self.event(f"celery worker {child.name.removeprefix('worker ')} ready again "
                           f"(pid {child.pid}, {took:.1f} s after its start)")  # fmt: skip
            elif not child.alive():
                raise SetupError(f"restarted {child.name} exited:\n{child.log_tail()}")
            elif time.monotonic() - child.started_at > 120:
                raise SetupError(f"restarted {child.name} not ready after 120 s")

    def chaos_plan(self) -> list[tuple[float, str, str | int]]:
        """(seconds after the load started, what, which)."""
        d = self.args.duration
        plan: list[tuple[float, str, str | int]] = [
            (0.15 * d, "arm", "money"),
            (0.5 * d, "arm", "default"),
        ]
        # gunicorn workers: web1 (twice), then web2 2 s after web1's last kill. One kill
        # costs an instance one failed request, below nginx's max_fails=3, so it stays
        # in the upstream (with max_fails=1 it was out for 10 s, and killing the other
        # instance meanwhile left nginx answering 502 to everything).
        web1 = [0.1 * d, 0.25 * d][: self.args.web_kills]
        web2_first = (web1[-1] if web1 else 0.6 * d) + 2
        web2 = [web2_first, web2_first + 0.2 * d][: max(0, self.args.web_kills - 2)]
        plan += [(at, "web", 0) for at in web1]
        plan += [(at, "web", 1) for at in web2 if at < d - 1]
        return sorted(plan, key=lambda item: item[0])

    def run_load(self) -> None:
        args = self.args
        self.load_started = time.monotonic()
        self.cpu_before = machine_cpu()
        prefix = f"so-{self.run_id}"
        self.order_prefix = prefix
        for i in range(args.click_threads):
            rate = args.clicks_per_second / args.click_threads
            t = threading.Thread(
                target=click_loop,
                args=(self.nginx_port, rate, self.stop_load, self.stats),
                name=f"clicks-{i}",
                daemon=True,
            )
            self.load_threads.append(t)
        for i in range(args.conversion_threads):
            rate = args.conversions_per_second / args.conversion_threads
            t = threading.Thread(
                target=conversion_loop,
                args=(self.nginx_port, rate, self.stop_load, self.stats, f"{prefix}-{i}"),
                name=f"conversions-{i}",
                daemon=True,
            )
            self.load_threads.append(t)
        for t in self.load_threads:
            t.start()
        self.event(
            f"load started: {args.clicks_per_second:g} clicks/s ({args.click_threads} threads), "
            f"{args.conversions_per_second:g} conversions/s ({args.conversion_threads} threads)"
        )
        actions = self.chaos_plan()
        while True:
            now = time.monotonic() - self.load_started
            self.watch_restarts()
            for key in self.check_armed():
                actions.append((now + self.args.restart_after, "restart", key))
                actions.sort(key=lambda item: item[0])
            if actions and actions[0][0] <= now:
                _, kind, target = actions.pop(0)
                if kind == "web":
                    self.kill_web_worker(int(target))
                elif kind == "arm":
                    self.arm(str(target))
                else:
                    self.restart_celery_worker(str(target))
                continue
            pending = self.armed or any(a[1] == "restart" for a in actions)
            if now >= args.duration and not pending:
                break
            time.sleep(0.05)
        self.stop_load.set()
        for t in self.load_threads:
            t.join(timeout=35)
        self.load_seconds = time.monotonic() - self.load_started
        self.cpu_busy = machine_cpu_share(self.cpu_before, machine_cpu())
        self.load_stopped_at = time.monotonic()
        self.event("load stopped")
        deadline = time.monotonic() + 120
        while self.restarting and time.monotonic() < deadline:
            self.watch_restarts()
            time.sleep(0.2)
        self.watch_restarts()

    # -- settling and checks

    def resend_unsure_orders(self) -> None:
        orders = list(self.stats.orders_unsure)
        self.resent = resend_orders(self.nginx_port, orders) if orders else {}
        if orders:
            log(f"sent {len(orders)} order(s) without a 201 again: {Counter(self.resent.values())}")

    def snapshot(self) -> dict:
        """What is still in flight; everything 0 means settled."""
        from django.db.models import Q, Sum
        from django.utils import timezone

        from core.models import OutboxMessage
        from integrations.models import WebhookDelivery
        from referrals.models import Click
        from rewards.ledger import POINTS_CURRENCY
        from rewards.models import LedgerEntry, Payout, Reward

        ids = self.stats.click_ids
        found = 0
        for start in range(0, len(ids), 2000):
            found += Click.objects.filter(pk__in=ids[start : start + 2000]).count()
        expected = set(
            WebhookDelivery.objects.filter(endpoint=self.endpoint).values_list(
                "event__public_id", flat=True
            )
        )
        with self.receiver.lock:
            received = set(self.receiver.ok)
        available = (
            LedgerEntry.objects.filter(bucket="available", program=self.program)
            .exclude(currency=POINTS_CURRENCY)
            .aggregate(total=Sum("amount_minor"))["total"]
            or 0
        )
        return {
            "clicks missing": len(set(ids)) - found,
            "outbox unsent": OutboxMessage.objects.filter(sent_at__isnull=True).count(),
            "webhook deliveries pending": WebhookDelivery.objects.filter(
                endpoint=self.endpoint, status="pending"
            ).count(),
            "webhook events not received": len(expected - received),
            "rewards due to mature": Reward.objects.filter(
                Q(requires_approval=False) | Q(approved_at__isnull=False),
                program=self.program,
                status="pending",
                kind__in=Reward.BALANCE_KINDS,
                available_at__lte=timezone.now(),
            ).count(),
            "payouts open": Payout.objects.filter(status__in=Payout.OPEN).count(),
            "cash available, not paid out": int(available >= self.program.min_payout_minor),
            "broker messages queued or unacknowledged": sum(
                self.redis.queue_lengths(self.queues).values()
            )
            + sum(self.redis.unacked_by_queue().values()),
        }

    def settle(self) -> None:
        started = self.load_stopped_at
        deadline = time.monotonic() + self.args.settle_timeout
        last_print = 0.0
        while True:
            snap = self.snapshot()
            waiting = {k: v for k, v in snap.items() if v}
            now = time.monotonic()
            if not waiting:
                self.settled = f"settled {now - started:.1f} s after the load stopped"
                log(self.settled)
                return
            if now >= deadline:
                self.settled = (
                    f"NOT settled {now - started:.0f} s after the load stopped: "
                    + ", ".join(f"{k} {v}" for k, v in waiting.items())
                )
                log(self.settled)
                return
            if now - last_print >= 10:
                last_print = now
                log(f"settling ({now - started:.0f} s): " + ", ".join(
                    f"{k} {v}" for k, v in waiting.items()))  # fmt: skip
            time.sleep(2)

    def checks(self) -> list[tuple[bool, str, str]]:
        from django.db.models import Count, Sum

        from core.models import OutboxMessage
        from integrations.models import WebhookDelivery, WebhookEvent
        from referrals.models import Click, Conversion
        from rewards.ledger import POINTS_CURRENCY
        from rewards.models import LedgerEntry, Payout, PayoutAccount, Reward

        results: list[tuple[bool, str, str]] = []

        # Clicks: every 302's click id has its row.
        ids = self.stats.click_ids
        distinct = set(ids)
        found = set()
        for start in range(0, len(ids), 2000):
            chunk = ids[start : start + 2000]
            found |= {
                str(pk) for pk in Click.objects.filter(pk__in=chunk).values_list("pk", flat=True)
            }
        missing = distinct - found
        rows = Click.objects.filter(link__code=DEMO_CODE, created_at__gte=self.run_started).count()
        results.append((
            not missing and len(distinct) == len(ids),
            "clicks",
            f"302s {len(ids)} (distinct click ids {len(distinct)}), rows found {len(found)}, "
            f"missing {len(missing)}; click rows of this run {rows} "
            f"({rows - len(found)} without a 302 seen: requests cut off by a kill, or in flight)",
        ))  # fmt: skip

        # Conversions: every order that got a 201 (or a 200/201 when sent again) is one row.
        counts = dict(
            Conversion.objects.filter(program=self.program, order_id__startswith=self.order_prefix)
            .values_list("order_id")
            .annotate(n=Count("id"))
            .values_list("order_id", "n")
        )
        created = self.stats.orders_201
        not_once = [o for o in created if counts.get(o, 0) != 1]
        resent_ok = [o for o, s in self.resent.items() if s in ("200", "201")]
        resent_bad = [o for o, s in self.resent.items() if s not in ("200", "201")]
        resent_not_once = [o for o in resent_ok if counts.get(o, 0) != 1]
        sent = set(created) | set(self.stats.orders_unsure)
        unknown = [o for o in counts if o not in sent]
        multi = sum(1 for n in counts.values() if n > 1)
        unsure = f"without a 201 {len(self.stats.orders_unsure)}"
        if self.resent:
            unsure += (
                f" (sent again with the same order id: {dict(Counter(self.resent.values()))}, "
                f"then recorded exactly once: {len(resent_ok) - len(resent_not_once)}"
                f"/{len(resent_ok)}" + (f", still failing {len(resent_bad)}" if resent_bad else "")
                + ")"
            )  # fmt: skip
        results.append((
            not not_once and not resent_not_once and not unknown and not multi,
            "conversions",
            f"orders sent {self.stats.orders_sent}, 201s {len(created)}, each recorded exactly "
            f"once: {len(created) - len(not_once)}/{len(created)}; {unsure}; rows "
            f"{sum(counts.values())} for {len(counts)} orders, for orders never sent "
            f"{len(unknown)}",
        ))  # fmt: skip

        # Payouts: paid payouts = the ledger's paid bucket = the fake's transfers.
        with self.fake._lock:
            transfers = [dict(t) for t in self.fake.transfers.values()]
            transfer_posts = [
                dict(r) for r in self.fake.requests
                if r.get("method") == "POST" and r.get("path", "").rstrip("/") == "/v1/transfers"
            ]  # fmt: skip
        per_group = Counter(t.get("transfer_group") for t in transfers)
        per_payout = Counter((t.get("metadata") or {}).get("payout_id") for t in transfers)
        by_id = {t["id"]: t for t in transfers}
        paid = list(Payout.objects.filter(status="paid"))
        bad_transfer = [
            p.pk for p in paid
            if p.stripe_transfer_id not in by_id
            or by_id[p.stripe_transfer_id]["amount"] != p.amount_minor
            or by_id[p.stripe_transfer_id].get("transfer_group") != p.stripe_idempotency_key
        ]  # fmt: skip
        paid_transfer_ids = {p.stripe_transfer_id for p in paid}
        orphan_transfers = [t["id"] for t in transfers if t["id"] not in paid_transfer_ids]
        lines, ledger_ok = [], True
        accounts = dict(PayoutAccount.objects.values_list("advocate_id", "stripe_account_id"))
        for advocate in self.advocates:
            paid_sum = (
                Payout.objects.filter(advocate=advocate, status="paid").aggregate(
                    s=Sum("amount_minor")
                )["s"]
                or 0
            )
            ledger_paid = (
                LedgerEntry.objects.filter(advocate=advocate, bucket="paid")
                .exclude(currency=POINTS_CURRENCY)
                .aggregate(s=Sum("amount_minor"))["s"]
                or 0
            )
            in_payout = (
                LedgerEntry.objects.filter(advocate=advocate, bucket="in_payout")
                .exclude(currency=POINTS_CURRENCY)
                .aggregate(s=Sum("amount_minor"))["s"]
                or 0
            )
            at_fake = sum(
                t["amount"] for t in transfers if t.get("destination") == accounts.get(advocate.pk)
            )
            n_paid = Payout.objects.filter(advocate=advocate, status="paid").count()
            ok = paid_sum == ledger_paid == at_fake and in_payout == 0
            ledger_ok &= ok
            lines.append(
                f"{advocate.email}: {n_paid} paid payouts {paid_sum / 100:.2f} EUR, ledger paid "
                f"{ledger_paid / 100:.2f}, transfers at the fake {at_fake / 100:.2f}, "
                f"ledger in_payout {in_payout / 100:.2f}"
            )
        results.append((ledger_ok, "payouts = ledger", "; ".join(lines)))
        statuses = dict(Payout.objects.values_list("status").annotate(n=Count("id")))
        replayed = sum(1 for r in transfer_posts if r.get("replayed"))
        max_group = max(per_group.values(), default=0)
        max_payout = max(per_payout.values(), default=0)
        cut_ok, cut = True, "the kill caught no payout mid-transfer"
        if self.cut_payout:
            pk, transfer_id = self.cut_payout
            payout = Payout.objects.get(pk=pk)
            group = payout.stripe_idempotency_key
            with self.fake._lock:
                lookups = sum(
                    1
                    for r in self.fake.requests
                    if (r.get("method"), r.get("path")) == ("GET", "/v1/transfers")
                    and (r.get("params") or {}).get("transfer_group") == group
                )
            cut_ok = (
                payout.status == "paid"
                and payout.stripe_transfer_id == transfer_id
                and per_payout[str(pk)] == 1
            )
            cut = (
                f"payout {pk}, whose worker was killed after Stripe made its transfer: "
                f"{payout.status}, attempts {payout.attempts}, transfer {payout.stripe_transfer_id}"
                f" (the one made before the kill: {payout.stripe_transfer_id == transfer_id}), "
                f"transfers for it at the fake {per_payout[str(pk)]}, looked up by transfer "
                f"group before sending again {lookups}x"
            )
        results.append((
            max_group <= 1 and max_payout <= 1 and not bad_transfer and not orphan_transfers
            and len(transfers) == len(paid) and not self.fake.errors and cut_ok,
            "transfers",
            f"payouts by status {statuses}; transfers at the fake {len(transfers)} for "
            f"{len(paid)} paid payouts; most transfers per payout {max_payout} (per "
            f"idempotency key/transfer group {max_group}); paid payouts without their "
            f"transfer {len(bad_transfer)}; transfers without a paid payout "
            f"{len(orphan_transfers)}; POST /v1/transfers {len(transfer_posts)} "
            f"(replayed by idempotency key {replayed}); fake errors {len(self.fake.errors)}; "
            f"{cut}",
        ))  # fmt: skip

        # Webhooks: every event with a delivery to the receiver was received (2xx) at least once.
        deliveries = WebhookDelivery.objects.filter(endpoint=self.endpoint)
        expected = set(deliveries.values_list("event__public_id", flat=True))
        events_since = WebhookEvent.objects.filter(
            program=self.program, created_at__gte=self.endpoint.created_at
        ).count()
        with self.receiver.lock:
            ok = Counter(self.receiver.ok)
            refused = sum(self.receiver.refused.values())
            posts = self.receiver.posts
        missing_events = expected - set(ok)
        unknown_events = set(ok) - expected
        duplicates = {e: n for e, n in ok.items() if n > 1}
        by_status = dict(deliveries.values_list("status").annotate(n=Count("id")))
        by_type = dict(
            WebhookEvent.objects.filter(public_id__in=expected)
            .values_list("type")
            .annotate(n=Count("id"))
        )
        cut_ok, cut = True, "the kill caught no webhook mid-delivery"
        if self.cut_event:
            delivery = deliveries.get(event__public_id=self.cut_event)
            cut_ok = delivery.status == "delivered" and ok[self.cut_event] >= 1
            cut = (
                f"event {self.cut_event}, whose worker was killed after the receiver took it: "
                f"delivery {delivery.status} after {delivery.attempts} recorded attempt(s), "
                f"received {ok[self.cut_event]}x"
            )
        results.append((
            not missing_events and not unknown_events and events_since == len(expected)
            and cut_ok,
            "webhooks",
            f"events {len(expected)} {by_type} (events since the endpoint exists "
            f"{events_since}); deliveries by status {by_status}; received (2xx) distinct "
            f"{len(ok)}, missing {len(missing_events)}, unknown {len(unknown_events)}; "
            f"POSTs {posts}, injected 503s {refused}; duplicates received (allowed, "
            f"at-least-once): {sum(n - 1 for n in duplicates.values())} extra for "
            f"{len(duplicates)} events; {cut}",
        ))  # fmt: skip

        unsent = OutboxMessage.objects.filter(sent_at__isnull=True).count()
        total = OutboxMessage.objects.count()
        retried = OutboxMessage.objects.filter(attempts__gt=1).count()
        results.append((
            unsent == 0,
            "outbox",
            f"rows {total}, unsent {unsent}, published after more than one attempt {retried}",
        ))  # fmt: skip

        rewards = Counter(
            f"{recipient}/{status}"
            for recipient, status in Reward.objects.filter(
                program=self.program, created_at__gte=self.run_started
            ).values_list("recipient", "status")
        )
        self.rewards_info = dict(rewards)
        return results

    def nginx_summary(self) -> str:
        path = self.tmp / "nginx" / "access.log"
        upstream = Counter()
        retried = Counter()
        statuses = Counter()
        with contextlib.suppress(OSError), open(path, errors="replace") as f:
            for line in f:
                m = re.match(r'(\S+) (\S+) (\d+) "([^"]*)" "([^"]*)"', line)
                if not m or m.group(2) == "/healthz":
                    continue
                method, _, status, addrs, _ups = m.groups()
                statuses[f"{method} {status}"] += 1
                hops = [a.strip() for a in addrs.split(",") if a.strip()]
                if hops:
                    upstream[hops[-1].rsplit(":", 1)[-1]] += 1
                if len(hops) > 1:
                    retried[method] += 1
        per = ", ".join(f":{p} {n}" for p, n in sorted(upstream.items()))
        errors = ""
        with contextlib.suppress(OSError):
            errors = (self.tmp / "nginx" / "error.log").read_text(errors="replace")
        cut = errors.count("prematurely closed") + errors.count("reset by peer")
        disabled = errors.count("upstream server temporarily disabled")
        no_live = errors.count("no live upstreams")
        return (
            f"answered by upstream {per}; retried on the other upstream "
            f"{dict(retried) or 0}; responses {dict(sorted(statuses.items()))}; error log: "
            f"upstream connection cut {cut}, instance marked down {disabled}, "
            f"no live upstreams {no_live}"
        )

    def task_redeliveries(self) -> tuple[int, Counter]:
        seen: Counter = Counter()
        names = {}
        for path in self.worker_logs:
            with contextlib.suppress(OSError):
                for m in re.finditer(
                    r"Task ([\w.]+)\[([0-9a-f-]{36})\] received", path.read_text(errors="replace")
                ):
                    seen[m.group(2)] += 1
                    names[m.group(2)] = m.group(1)
        again = Counter(names[t] for t, n in seen.items() if n > 1)
        return sum(1 for n in seen.values() if n > 1), again

    def log_problems(self) -> str:
        """Tracebacks and ERROR lines in the logs, besides gunicorn's reports of our kills."""
        found = []
        logs = [c.log_path for c in self.children if c is not self.nginx]
        for path in sorted(set(logs)):
            text = ""
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace")
            tracebacks = text.count("Traceback (most recent call last)")
            errors = sum(
                1
                for line in text.splitlines()
                if ("ERROR" in line or "CRITICAL" in line) and "was sent SIGKILL" not in line
            )
            if tracebacks or errors:
                found.append(f"{path.name}: {errors} ERROR lines, {tracebacks} tracebacks")
        return "; ".join(found) or "no ERROR lines or tracebacks"

    def gunicorn_summary(self) -> str:
        parts = []
        for child, port in zip(self.web, self.web_ports, strict=True):
            text = child.log_text()
            killed = len(re.findall(r"was sent SIGKILL", text))
            booted = len(re.findall(r"Booting worker with pid", text))
            parts.append(f":{port} workers booted {booted} (killed {killed})")
        return "; ".join(parts)

    # -- the whole run

    def report(self, results, redis_state) -> bool:
        args = self.args
        s = self.stats
        ok = all(passed for passed, _, _ in results)
        out = []
        out.append(
            f"scale-out run {self.run_id}: {self.load_seconds:.1f} s of load, "
            f"all on {HOST} ({os.cpu_count()} cores)"
        )
        out.append("topology")
        upstreams = ", ".join(f":{p}" for p in self.web_ports)
        out.append(
            f"  nginx             :{self.nginx_port} -> upstreams {upstreams} "
            "(max_fails=3 fail_timeout=5s, proxy_next_upstream error timeout, 2 tries)"
        )
        for child, port in zip(self.web, self.web_ports, strict=True):
            out.append(
                f"  gunicorn          :{port} master {child.pid}, {WEB_WORKERS} sync workers"
            )
        out.append(f"  celery worker     -Q {MONEY_QUEUES}, concurrency {WORKER_CONCURRENCY}")
        out.append(
            f"  celery worker     -Q {self.default_queue} (default), concurrency "
            f"{WORKER_CONCURRENCY}"
        )
        out.append(f"  celery beat       pid {self.beat.pid}")
        out.append(f"  postgresql        {HOST}:5432/{self.name}")
        out.append(
            f"  redis             {self.redis.url} (visibility timeout {args.visibility_timeout} s)"
        )
        out.append(f"  fake stripe       {self.fake.url}; webhook receiver {self.receiver.url}")
        out.append("events")
        out.extend(f"  {e}" for e in self.events)
        click_total = sum(s.click_status.values())
        conv_total = sum(s.conv_status.values())
        out.append("load (through nginx)")
        out.append(
            f"  clicks       GET /r/{DEMO_CODE}            {click_total} sent "
            f"({click_total / self.load_seconds:.1f}/s), by status {dict(s.click_status)}"
        )
        out.append(
            f"  conversions  POST /api/v1/conversions  {conv_total} sent "
            f"({conv_total / self.load_seconds:.1f}/s), by status {dict(s.conv_status)}"
        )
        out.append(
            f"  latency      clicks {percentiles(s.click_seconds)}; "
            f"conversions {percentiles(s.conv_seconds)}"
        )
        out.append(
            f"  machine      CPU busy {self.cpu_busy:.0%} of {os.cpu_count()} cores during the "
            "load (everything: this script, servers, workers, PostgreSQL)"
        )
        out.append(f"  nginx        {self.nginx_summary()}")
        out.append(f"  gunicorn     {self.gunicorn_summary()}")
        redelivered, names = self.task_redeliveries()
        out.append(
            f"  celery       tasks received more than once (redelivered): {redelivered} "
            f"{dict(names)}; kills: web workers {self.kills['web']}, money/emails worker "
            f"{self.kills['money']}, default worker {self.kills['default']}"
        )
        out.append(f"  rewards      {self.rewards_info}")
        out.append(f"  logs         {self.log_problems()}")
        out.append(f"settle: {self.settled}")
        out.append(f"  redis after: {redis_state}")
        out.append("checks")
        for passed, name, detail in results:
            out.append(f"  [{'PASS' if passed else 'FAIL'}] {name}: {detail}")
        took = time.monotonic() - self.began
        setup = self.load_started - self.began
        out.append(
            f"result: {'PASS' if ok else 'FAIL'} (exit {0 if ok else 1}); {took:.0f} s so far "
            f"(setup {setup:.0f} s), then the teardown"
        )
        print("\n".join(out), flush=True)
        return ok

    def run(self) -> int:
        self.start_services()
        from django.utils import timezone

        self.run_started = timezone.now()
        log("starting 2 gunicorn instances, nginx, 2 celery workers and beat")
        self.start_web()
        self.start_nginx()
        self.start_celery()
        self.run_load()
        self.resend_unsure_orders()
        self.settle()
        results = self.checks()
        redis_state = (
            f"queue lengths {self.redis.queue_lengths(self.queues)}, unacked "
            f"{dict(self.redis.unacked_by_queue()) or 0}"
        )
        return 0 if self.report(results, redis_state) else 1

    def cleanup(self, failed: bool) -> None:
        signal.alarm(0)
        self.stop_load.set()
        for t in self.load_threads:
            t.join(timeout=35)
        # Beat and workers first (warm shutdown), then the web (gunicorn: SIGTERM to the
        # master only, it stops its workers gracefully), then nginx.
        web = set(map(id, self.web))
        for child in reversed(self.children):
            if id(child) in web or child is self.nginx:
                continue
            child.stop(timeout=20)
        for child in self.web:
            child.stop(group=False, timeout=25)
        if self.nginx is not None:
            self.nginx.stop(sig=signal.SIGQUIT, group=False, timeout=10)
        leftovers = [c.name for c in self.children if c.alive()]
        if leftovers:
            log(f"still running after stop: {leftovers}")
        if self.receiver is not None:
            self.receiver.stop()
        if self.fake is not None:
            self.fake.stop()
        if self.django_ready:
            from django.db import connections

            connections.close_all()
            if "referrals.clicks" in sys.modules:
                # This process writes no clicks; the module's atexit flush would make the
                # spool folder again after the temp dir is gone.
                sys.modules["referrals.clicks"].buffer = _NoClicks()
        if self.db_created and not self.args.keep_database:
            out = subprocess.run(
                ["dropdb", *PG_ARGS, "--force", self.name],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if out.returncode:
                log(f"dropdb {self.name} failed: {out.stderr.strip()}")
            else:
                log(f"dropped database {self.name}")
        if self.redis is not None:
            left = self.redis.cleanup(self.queues)
            log(f"redis db {self.redis.db}: our keys deleted ({left} keys left in it)")
        if failed or self.args.keep_logs:
            log(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


class _NoClicks:
    @staticmethod
    def flush() -> int:
        return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=40, help="seconds of load (40)")
    p.add_argument("--settle-timeout", type=float, default=240, help="seconds (240)")
    p.add_argument("--clicks-per-second", type=float, default=60)
    p.add_argument("--click-threads", type=int, default=2)
    p.add_argument("--conversions-per-second", type=float, default=6)
    p.add_argument("--conversion-threads", type=int, default=2)
    p.add_argument("--web-kills", type=int, default=4, choices=range(5), help="(4)")
    p.add_argument(
        "--restart-after", type=float, default=3,
        help="seconds between a Celery worker's SIGKILL and its restart (3)",
    )  # fmt: skip
    p.add_argument("--min-payout-minor", type=int, default=100, help="demo program's (100)")
    p.add_argument(
        "--visibility-timeout", type=int, default=30,
        help="CELERY_VISIBILITY_TIMEOUT: seconds before a killed worker's task returns (30)",
    )  # fmt: skip
    p.add_argument(
        "--receiver-fail-every", type=int, default=25,
        help="the webhook receiver answers 503 to every Nth POST (25; 0: never)",
    )  # fmt: skip
    p.add_argument("--redis-db", type=int, default=None, help="default: first empty of 9-15")
    p.add_argument(
        "--port-base",
        type=int,
        default=None,
        help="take every port from here on (nginx, both gunicorns, the receiver, the fake"
        " Stripe; 20 at most) instead of any free one",
    )
    p.add_argument("--keep-database", action="store_true", help="do not drop scaleout_<id>")
    p.add_argument("--keep-logs", action="store_true", help="keep the temp dir of logs")
    p.add_argument(
        "--time-limit", type=float, default=None,
        help="overall limit in seconds (default: duration + settle timeout + 420)",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.port_base:
        PORT_RANGE[:] = range(args.port_base, args.port_base + 20)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("nginx", "createdb", "dropdb"):
        if shutil.which(tool) is None:
            log(f"{tool} is missing")
            return 2

    def interrupt(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, interrupt)
    signal.alarm(int(args.time_limit or args.duration + args.settle_timeout + 420))
    bench = ScaleOut(args)
    status = 2
    try:
        status = bench.run()
    except SetupError as exc:
        log(f"setup failed: {exc}")
        status = 2
    except (Interrupted, KeyboardInterrupt) as exc:
        log(f"interrupted ({type(exc).__name__} {exc}); cleaning up")
        status = 2
    except Exception:
        import traceback

        traceback.print_exc()
        status = 2
    finally:
        try:
            bench.cleanup(failed=status != 0)
        except (Interrupted, KeyboardInterrupt):
            log("interrupted during cleanup")
    return status


if __name__ == "__main__":
    sys.exit(main())
