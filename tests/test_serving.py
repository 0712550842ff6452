"""The app as ``make run`` serves it (``manage.py serve``: gunicorn, a Celery worker with
beat), hit with real concurrent HTTP requests: the contract's idempotency holds, and
periodic work happens on the embedded default too."""

import collections
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from storefront import demo

ROOT = Path(__file__).resolve().parent.parent
KEY = demo.DEMO_SECRET_KEY
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


_handed_out: collections.deque[int] = collections.deque(maxlen=4)  # the last ones given


def _free_port() -> int:
    """A free port; with TEST_PORTS=8180-8199 one of those (a machine shared by several)."""
    low, _, high = os.environ.get("TEST_PORTS", "").partition("-")
    candidates = range(int(low), int(high) + 1) if low and high else [0]
    for port in candidates:
        if port in _handed_out:
            continue  # given to a server that may not listen yet
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            if port:
                _handed_out.append(port)
            return s.getsockname()[1]
    raise RuntimeError(f"no free port in TEST_PORTS={os.environ['TEST_PORTS']}")


def _manage(env: dict, *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


class Served:
    """``manage.py serve`` in a process group of its own, on a database of its own."""

    def __init__(self, env: dict, tmp: Path):
        self.env = env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / "serve.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(self.port), "--workers", "3"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"serve did not come up; see {self.log.name}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()

    def post(self, path: str, body: dict, headers: dict | None = None):
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {KEY}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def shell(self, code: str) -> str:
        return _manage(self.env, "shell", "-v", "0", "-c", code).strip()

    def problems(self, last: int = 40) -> str:
        """The log's last warnings and errors, one line each, for a failure message."""
        self.log.flush()
        lines = Path(self.log.name).read_text(errors="replace").splitlines()
        marked = [line[:240] for line in lines if re.search(r"WARNING|ERROR|CRITICAL", line)]
        return "\n".join(marked[-last:]) or "(no warnings in the log)"


def _postgres_env(env: dict) -> dict:
    if not settings.CELERY_BROKER_URL and not REQUIRE_SERVICES:
        pytest.skip("needs Redis (set CELERY_BROKER_URL)")
    name = f"serve_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES=1 but PostgreSQL is not there: {exc}")
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432")
    broker = settings.CELERY_BROKER_URL or "redis://127.0.0.1:6379/0"
    return {**env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}",
            "CELERY_BROKER_URL": broker, "CELERY_TASK_DEFAULT_QUEUE": name}  # fmt: skip


@pytest.fixture(scope="module", params=["embedded", "postgres"])
def served(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.pop("CELERY_BROKER_URL", None)
    env["DATABASE_URL"] = f"sqlite:///{tmp / 'db.sqlite3'}"
    env["MATURE_REWARDS_EVERY_MINUTES"] = "0.05"  # beat matures rewards every 3 s here
    env["CLICK_SPOOL_DIR"] = str(tmp / "clicks")  # this app's spool only
    env["SITE_URL"] = "http://127.0.0.1"
    # The bursts below come from one address: counted, never past the per-address limit.
    env["REDIRECT_RATE_PER_IP"] = "1000000000/m"
    if request.param == "postgres":
        env = _postgres_env(env)
        env["CELERY_QUEUE_ROUTING"] = "0"  # one queue of its own: parallel runs stay apart
    app = None
    try:  # a setup that fails or times out still stops what it started
        _manage(env, "migrate", "--noinput")
        _manage(env, "seed_demo")
        app = Served(env, tmp)
        yield app
    finally:
        if app is not None:
            app.stop()
        if request.param == "postgres":
            name = env["DATABASE_URL"].rsplit("/", 1)[1]
            with psycopg.connect(
                "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
            ) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _burst(n: int, call) -> list:
    """Call ``call(i)`` from ``n`` threads released together."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait(timeout=30)
        results[i] = call(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_thirty_concurrent_copies_of_an_order_record_it_once(served):
    tag = uuid.uuid4().hex[:8]
    body = {
        "order_id": f"DUP-{tag}",
        "amount": "49.90",
        "currency": "EUR",
        "customer": {"email": f"dup-{tag}@example.com"},
        "referral_code": "DEMO2345",
    }
    answers = _burst(30, lambda i: served.post("/api/v1/conversions", body))
    assert Counter(status for status, _ in answers) == {201: 1, 200: 29}
    assert len({body["id"] for _, body in answers}) == 1
    count = served.shell(
        "from referrals.models import Conversion; from rewards.models import Reward; "
        f"print(Conversion.objects.filter(order_id='DUP-{tag}').count(), "
        f"Reward.objects.filter(conversion__order_id='DUP-{tag}').count())"
    )
    assert count == "1 1"


def test_one_idempotency_key_with_different_bodies_commits_once(served):
    tag = uuid.uuid4().hex[:8]
    answers = _burst(
        8,
        lambda i: served.post(
            "/api/v1/conversions",
            {"order_id": f"IK-{tag}-{i}", "amount": "10.00", "currency": "EUR"},
            {"Idempotency-Key": f"key-{tag}"},
        ),
    )
    statuses = Counter(status for status, _ in answers)
    assert statuses[201] == 1 and statuses[409] == 7, answers
    codes = {body["error"]["code"] for status, body in answers if status == 409}
    assert codes <= {"idempotency_key_reused", "in_flight"}
    committed = served.shell(
        "from referrals.models import Conversion; "
        f"print(Conversion.objects.filter(order_id__startswith='IK-{tag}-').count())"
    )
    assert committed == "1"


def test_one_idempotency_key_with_the_same_body_answers_the_first_result(served):
    tag = uuid.uuid4().hex[:8]
    body = {"order_id": f"SAME-{tag}", "amount": "10.00", "currency": "EUR"}
    answers = _burst(
        8, lambda i: served.post("/api/v1/conversions", body, {"Idempotency-Key": f"k-{tag}"})
    )
    assert all(status in (200, 201, 409) for status, _ in answers), answers
    assert Counter(status for status, _ in answers)[201] == 1
    assert len({b["id"] for s, b in answers if s in (200, 201)}) == 1


def test_a_held_reward_becomes_available_without_anyone_asking(served):
    """Beat runs beside the web server, on the embedded broker too."""
    tag = uuid.uuid4().hex[:8]
    status, body = served.post(
        "/api/v1/conversions",
        {"order_id": f"HOLD-{tag}", "amount": "20.00", "currency": "EUR",
         "customer": {"email": f"hold-{tag}@example.com"}, "referral_code": "DEMO2345"},
    )  # fmt: skip
    assert status == 201
    reward_id = body["rewards"][0]["id"]
    # The hold period passes (14 days in the demo program).
    served.shell(
        "from datetime import timedelta; from django.utils import timezone; "
        "from rewards.models import Reward; "
        f"Reward.objects.filter(pk={reward_id}).update("
        "available_at=timezone.now() - timedelta(seconds=1))"
    )
    deadline = time.monotonic() + 30
    state = ""
    while time.monotonic() < deadline:
        state = served.shell(
            f"from rewards.models import Reward; print(Reward.objects.get(pk={reward_id}).status)"
        )
        if state == "available":
            break
        time.sleep(1)
    assert state == "available"


class OwnRedis:
    """A redis-server of this test's own, on a free port, that the test can stop and start."""

    def __init__(self, tmp: Path):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.tmp = tmp
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def served_with_own_redis(tmp_path):
    if not shutil.which("redis-server"):
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but redis-server is not installed")
        pytest.skip("needs redis-server")
    redis = OwnRedis(tmp_path)
    redis.start()
    app = None
    try:  # a setup that fails or times out still stops what it started
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))
        }
        env.update(
            DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
            CELERY_BROKER_URL=redis.url,
            OUTBOX_RELAY_EVERY_SECONDS="1",
            CLICK_SPOOL_DIR=str(tmp_path / "clicks"),
            SITE_URL="http://127.0.0.1",
        )
        _manage(env, "migrate", "--noinput")
        _manage(env, "seed_demo")
        app = Served(env, tmp_path)
        yield app, redis
    finally:
        if app is not None:
            app.stop()
        redis.stop()


def test_with_the_broker_down_conversions_are_recorded_and_their_work_follows(
    served_with_own_redis,
):
    """Twice: a worker may come back from the first broker restart and not the second."""
    served, redis = served_with_own_redis
    served.shell(
        "from advocacy.models import Program; "
        "Program.objects.filter(slug='demo').update(hold_days=0)"
    )
    for outage in (1, 2):
        redis.stop()
        tag = uuid.uuid4().hex[:8]
        started = time.monotonic()
        status, body = served.post(
            "/api/v1/conversions",
            {"order_id": f"DOWN-{tag}", "amount": "30.00", "currency": "EUR",
             "customer": {"email": f"down-{tag}@example.com"}, "referral_code": "DEMO2345"},
        )  # fmt: skip
        took = time.monotonic() - started
        assert status == 201, body
        assert took < 10, f"the API waited {took:.1f} s for the broker"
        reward_id = body["rewards"][0]["id"]
        waiting = served.shell(
            "from core.models import OutboxMessage; "
            "print(OutboxMessage.objects.filter(sent_at__isnull=True).count())"
        )
        assert int(waiting) >= 1

        redis.start()
        # The worker retries the broker with a growing pause (30 s at most); on a
        # loaded machine each check below is a Django start of a few seconds.
        deadline = time.monotonic() + 120
        state = ""
        while time.monotonic() < deadline:
            state = served.shell(
                "from core.models import OutboxMessage; from rewards.models import Reward; "
                "from advocacy.models import Notification; "
                f"print(Reward.objects.get(pk={reward_id}).status, "
                "OutboxMessage.objects.filter(sent_at__isnull=True).count(), "
                f"Notification.objects.filter(key='reward_available:{reward_id}', "
                "sent_at__isnull=False).count())"
            )
            if state == "available 0 1":
                break
            time.sleep(2)
        assert state == "available 0 1", f"after outage {outage}:\n{served.problems()}"
        mature = served.shell(
            "from core.models import OutboxMessage; "
            "print(OutboxMessage.objects.filter("
            f"task='rewards.tasks.mature_reward', args=[{reward_id}], "
            "sent_at__isnull=False).count())"
        )
        assert mature == "1"  # one message, sent once


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_killing_web_workers_mid_burst_loses_no_click(served):
    """Three gunicorn workers SIGKILLed while friends follow a link: every click that was
    answered with a 302 is in the database afterwards."""
    master = next(p for p in _children(served.proc.pid) if "gunicorn" in _cmdline(p))
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def friend():
        import http.client

        while not stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
            try:
                conn.request("GET", "/r/DEMO2345?ch=burst")
                response = conn.getresponse()
                response.read()
                if response.status == 302:
                    location = response.getheader("Location")
                    with lock:
                        answered.append(location.split("click=")[1].split("&")[0])
            except (OSError, http.client.HTTPException):
                # The worker serving it was killed (no answer, or an answer cut off
                # mid-body): no promise was made.
                pass
            finally:
                conn.close()

    threads = [threading.Thread(target=friend) for _ in range(6)]
    for t in threads:
        t.start()
    killed = 0
    try:
        for _ in range(3):
            time.sleep(0.7)
            workers = _children(master)
            if workers:
                os.kill(workers[0], 9)
                killed += 1
        time.sleep(0.7)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert killed == 3 and len(answered) > 50
    ids = "[" + ",".join(f"'{i}'" for i in answered) + "]"
    deadline = time.monotonic() + 30
    missing = None
    while time.monotonic() < deadline:
        missing = served.shell(
            "from referrals.models import Click; "
            f"ids = set({ids}); "
            "print(len(ids - {str(i) for i in Click.objects.filter(pk__in=ids)"
            ".values_list('id', flat=True)}))"
        )
        if missing == "0":
            break
        time.sleep(1)
    assert missing == "0", f"{missing} of {len(answered)} answered clicks never written"
