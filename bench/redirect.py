"""Requests per second of ``GET /r/<code>`` against a bare 302 view, on one gunicorn server.

Run from anywhere (see README.md)::

    .venv/bin/python bench/redirect.py [--duration 10] [--workers 2] [--connections 16]

It creates/migrates/seeds the PostgreSQL database, starts gunicorn on 127.0.0.1 with
``bench.settings`` and DEBUG=0, warms up, then alternates ``bare`` and ``redirect`` runs
with wrk, counts the clicks each redirect run recorded, and stops the server on exit.
With ``--conversions`` each round also measures ``POST /api/v1/conversions`` (a new order
per request) for 200 advocates and for one hot advocate (see bench/conversions.py).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for ``import bench`` when run as ``python bench/redirect.py``
VENV_BIN = ROOT / ".venv" / "bin"
LUA_SCRIPT = BENCH_DIR / "redirect.lua"
CONVERSION_LUA = BENCH_DIR / "conversion.lua"  # POST /api/v1/conversions, one new order each
HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/advocacy_bench"
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}  # what the TLS proxy sends; see redirect.lua
CLK_TCK = os.sysconf("SC_CLK_TCK")
FLOORS = ("insert", "redis", "buffer")  # views in bench/urls.py
CONVERSIONS = ("many", "hot")  # orders spread over --advocates advocates / all for one
DEMO_SECRET_KEY = "sk_demo_0000000000000000000000000000demo"  # noqa: S105 - storefront/demo.py
DISTURBED_CORES = 0.15  # a run where other processes used more than this is flagged


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


# --- database -----------------------------------------------------------------------------


@dataclass
class Database:
    url: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("postgres", "postgresql", "pgsql"):
            raise BenchError(f"DATABASE_URL must be PostgreSQL, got {self.url!r}")
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise BenchError("the benchmark only runs against a loopback database")
        self.name = parts.path.lstrip("/")
        self.conn_args = ["-h", parts.hostname, "-p", str(parts.port or 5432)]
        self.conn_args += ["-U", unquote(parts.username or "postgres")]
        self.env = dict(os.environ)
        if parts.password:
            self.env["PGPASSWORD"] = unquote(parts.password)

    def query(self, sql: str, *, dbname: str | None = None, **params: str) -> str:
        """Run ``sql`` with psql; ``:'name'`` in it is ``params["name"]``, quoted by psql."""
        variables = [arg for k, v in params.items() for arg in ("-v", f"{k}={v}")]
        out = subprocess.run(
            ["psql", *self.conn_args, "-d", dbname or self.name, "-XAtq", *variables],
            input=sql,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return out.stdout.strip()

    def ensure_exists(self) -> None:
        exists = self.query(
            "SELECT 1 FROM pg_database WHERE datname = :'name'", dbname="postgres", name=self.name
        )
        if exists != "1":
            log(f"creating database {self.name}")
            subprocess.run(
                ["createdb", *self.conn_args, self.name], env=self.env, timeout=30, check=True
            )

    def clicks(self, code: str) -> int:
        return int(
            self.query(
                "SELECT count(*) FROM referrals_click c JOIN referrals_referrallink l"
                " ON l.id = c.link_id WHERE l.code = :'code'",
                code=code,
            )
        )

    def conversions(self, order_prefix: str) -> int:
        return int(
            self.query(
                "SELECT count(*) FROM referrals_conversion WHERE starts_with(order_id, :'prefix')",
                prefix=order_prefix,
            )
        )

    @staticmethod
    def settled(count: Callable[[], int], *, timeout: float = 10.0) -> int:
        """A row count once requests still in flight when wrk stopped have finished."""
        deadline = time.monotonic() + timeout
        last, stable = count(), 0
        while stable < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
            now = count()
            stable = stable + 1 if now == last else 0
            last = now
        return last

    def settled_clicks(self, code: str, *, timeout: float = 10.0) -> int:
        """The click count once requests still in flight when wrk stopped have finished."""
        return self.settled(lambda: self.clicks(code), timeout=timeout)


class BrokerQueue:
    """The bench's own Celery queue (``--broker-url``): counted and deleted at the end."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name

    def _redis(self):
        import redis

        return redis.Redis.from_url(self.url)

    def length(self) -> int:
        with contextlib.suppress(Exception):
            return int(self._redis().llen(self.name))
        return -1

    def clear(self) -> None:
        with contextlib.suppress(Exception):
            client = self._redis()
            client.delete(
                self.name,
                f"_kombu.binding.{self.name}",
                f"_kombu.binding_permanent.{self.name}",
            )
            client.srem("_kombu.binding.celery.pidbox", self.name)


class RedisQueue:
    """The list ``floor/redis/`` pushes clicks to (see bench/urls.py)."""

    def __init__(self) -> None:
        self.client = None

    def _redis(self):
        if self.client is None:
            import redis

            from bench import FLOOR_REDIS_KEY, FLOOR_REDIS_URL

            self.client = redis.Redis.from_url(FLOOR_REDIS_URL)
            self.key = FLOOR_REDIS_KEY
        return self.client

    def length(self) -> int:
        time.sleep(0.5)  # requests in flight when wrk stopped
        return self._redis().llen(self.key)

    def clear(self) -> None:
        with contextlib.suppress(Exception):
            self._redis().delete(self.key)


# --- CPU accounting from /proc (who burns the 2 cores during a run) -----------------------


def _proc_stat(pid: str) -> tuple[str, int, int] | None:
    """(comm, ppid, utime+stime ticks) of a process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, int(fields[1]), int(fields[11]) + int(fields[12])


def _other_database_backend(pid: str, dbname: str) -> bool:
    """A postgres backend serving another database (someone else's tests, say)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").split(": ", 2)
    except OSError:
        return True
    # "postgres: 15/main: <user> <database> <host>(<port>) <state>" for a client backend;
    # "postgres: 15/main: walwriter" etc. for the server's own processes.
    words = title[2].split() if len(title) == 3 else []
    is_client = len(words) >= 3 and ("(" in words[2] or words[2] == "[local]")
    return is_client and words[1] != dbname


@dataclass
class CpuSample:
    """CPU time so far, in seconds: per process (by pid) for gunicorn and postgres."""

    server: dict[str, float]  # gunicorn master + workers
    postgres: dict[str, float]  # postgres processes, less backends of other databases
    client: float  # wrk (reaped children of this script)
    machine_busy: float  # all non-idle CPU time on the machine

    def __sub__(self, before: CpuSample) -> CpuUsed:
        def used(now: dict[str, float], then: dict[str, float]) -> float:
            # Processes that started during the run count from 0; ones that exited are lost.
            return sum(t - then.get(pid, 0.0) for pid, t in now.items())

        return CpuUsed(
            used(self.server, before.server),
            used(self.postgres, before.postgres),
            self.client - before.client,
            self.machine_busy - before.machine_busy,
        )


@dataclass
class CpuUsed:
    server: float
    postgres: float
    client: float
    machine_busy: float


def cpu_sample(server_pid: int, dbname: str) -> CpuSample:
    server, postgres = {}, {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        stat = _proc_stat(pid)
        if stat is None:
            continue
        comm, ppid, ticks = stat
        if int(pid) == server_pid or ppid == server_pid:
            server[pid] = ticks / CLK_TCK
        elif comm == "postgres" and not _other_database_backend(pid, dbname):
            postgres[pid] = ticks / CLK_TCK
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(x) for x in cpu[:8]) - int(cpu[3]) - int(cpu[4])  # minus idle, iowait
    return CpuSample(server, postgres, children.ru_utime + children.ru_stime, busy / CLK_TCK)


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def fetch(
    port: int, path: str, *, body: dict | None = None, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    """GET ``path`` (POST ``body`` as JSON when given); the body read is in ``.data``."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        all_headers = {**PROXY_HEADERS, **(headers or {})}
        if body is None:
            conn.request("GET", path, headers=all_headers)
        else:
            all_headers["Content-Type"] = "application/json"
            conn.request("POST", path, body=json.dumps(body), headers=all_headers)
        response = conn.getresponse()
        response.data = response.read()
        return response
    finally:
        conn.close()


class Server:
    def __init__(self, *, env: dict[str, str], port: int, workers: int, workdir: Path) -> None:
        self.port = port
        self.log_path = workdir / "gunicorn.log"
        self.proc: subprocess.Popen | None = None
        self.cmd = [
            str(VENV_BIN / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--chdir",
            str(ROOT),
            "--log-level",
            "warning",
            "--error-logfile",
            str(self.log_path),
        ]
        self.env = env

    def start(self, *, timeout: float = 30.0) -> None:
        log(f"starting gunicorn on {HOST}:{self.port}")
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so stop() gets the workers too
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                if fetch(self.port, "/bare/").status == 302:
                    return
            time.sleep(0.2)
        raise BenchError(f"gunicorn not answering after {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        return "(no log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        log("stopping gunicorn")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


# --- wrk ----------------------------------------------------------------------------------


@dataclass
class Endpoint:
    """One thing measured each round: a URL, the wrk script, and what counts as success."""

    name: str
    url: str
    expected: str = "302"  # the status every response should have
    script: Path = LUA_SCRIPT
    # run tag -> arguments after "--" for the wrk script (the tag is unique per wrk run)
    script_args: Callable[[str], list[str]] | None = None
    # run tag -> rows in the database (clicks, conversions) to count before and after a run
    rows: Callable[[str], int] | None = None
    rows_label: str = "clicks"


@dataclass
class Run:
    name: str
    round: int
    requests: int
    duration_s: float
    latency_us: dict[str, float]
    errors: dict[str, int]
    statuses: dict[str, int]
    cpu: CpuUsed
    expected: str = "302"
    rows_before: int | None = None
    rows_after: int | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def rows(self) -> int | None:
        """Rows (clicks, conversions) the run wrote, requests in flight at the end included."""
        if self.rows_before is None or self.rows_after is None:
            return None
        return self.rows_after - self.rows_before

    @property
    def other_cores(self) -> float:
        """Cores used by something else than gunicorn, postgres and wrk during the run."""
        cpu = self.cpu
        return (cpu.machine_busy - cpu.server - cpu.postgres - cpu.client) / self.duration_s

    @property
    def disturbed(self) -> bool:
        return self.other_cores > DISTURBED_CORES

    @property
    def unexpected(self) -> int:
        """Responses with another status than the expected one (302, or 201 for conversions)."""
        return sum(n for status, n in self.statuses.items() if status != self.expected)

    @property
    def not_2xx_3xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= int(status) < 400)


def wrk(
    args: argparse.Namespace,
    *,
    url: str,
    seconds: int,
    script: Path = LUA_SCRIPT,
    script_args: list[str] | None = None,
) -> dict:
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s"]
    cmd += ["--timeout", "5s", "-s", str(script), url]
    if script_args:
        cmd += ["--", *script_args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    raise BenchError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")


def run_tag(args: argparse.Namespace, endpoint: Endpoint, label: str) -> str:
    """Unique per wrk run (and per invocation): conversion order ids start with it."""
    return f"{args.run_id}-{endpoint.name.removeprefix('conv-')[0]}{label}"


def measure(
    args: argparse.Namespace,
    *,
    endpoint: Endpoint,
    round_no: int,
    sample: Callable[[], CpuSample],
) -> Run:
    tag = run_tag(args, endpoint, str(round_no))
    script_args = endpoint.script_args(tag) if endpoint.script_args else None
    before = endpoint.rows(tag) if endpoint.rows else None
    cpu_before = sample()
    result = wrk(
        args,
        url=endpoint.url,
        seconds=args.duration,
        script=endpoint.script,
        script_args=script_args,
    )
    cpu = sample() - cpu_before
    after = endpoint.rows(tag) if endpoint.rows else None
    run = Run(
        name=endpoint.name,
        round=round_no,
        requests=result["requests"],
        duration_s=result["duration_us"] / 1e6,
        latency_us=result["latency_us"],
        errors=result["errors"],
        statuses=result["statuses"],
        cpu=cpu,
        expected=endpoint.expected,
        rows_before=before,
        rows_after=after,
    )
    log(
        f"round {round_no} {endpoint.name:12s} {run.rps:8.1f} req/s"
        f"  p50 {ms(run.latency_us['p50'])}  p99 {ms(run.latency_us['p99'])}"
        + (
            f"  {endpoint.rows_label} +{run.rows} for {run.requests} requests"
            if run.rows is not None
            else ""
        )
        + (f"  ({run.unexpected} not {run.expected})" if run.unexpected else "")
    )
    return run


# --- report -------------------------------------------------------------------------------


def ms(us: float) -> str:
    return f"{us / 1000:6.2f} ms"


def report(args: argparse.Namespace, runs: list[Run], queries: dict | None = None) -> bool:
    """Print the results; True when no click was lost and every response had its status."""
    print()
    measured = f"GET /r/{args.code}"
    if args.conversions:
        measured += (
            " and POST /api/v1/conversions ("
            + ", ".join(
                {"many": f"{args.advocates} advocates", "hot": "one hot advocate"}[kind]
                for kind in args.conversions
            )
            + ")"
        )
    print(
        f"{measured} vs GET /bare/  |  gunicorn {args.workers} sync workers, "
        f"wrk {args.threads} threads / {args.connections} connections, {args.duration}s per run,"
        f" {args.rounds} round(s), {os.cpu_count()} CPUs, before the run: loadavg"
        f" {args.loadavg}, CPU {args.busy_before} busy"
    )
    if args.broker_url:
        print(
            f"tasks published to {args.broker_url} (queue {args.broker_queue}, no worker;"
            f" {getattr(args, 'broker_messages', '?')} messages in it at the end, then deleted)"
        )
    else:
        print("no broker: the tasks a request enqueues run inside it (--broker-url to publish)")
    print()
    header = (
        f"{'run':<16}{'requests':>9}{'req/s':>9}{'p50':>10}{'p90':>10}{'p99':>10}"
        f"{'unexpected':>11}{'4xx/5xx':>8}{'errors':>7}{'rows':>8}{'diff':>6}"
        f"{'cpu ms/req: app':>17}{'pg':>6}{'wrk':>6}{'other':>6}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        errors = sum(run.errors.values())
        rows = "" if run.rows is None else str(run.rows)
        diff = "" if run.rows is None else f"{run.rows - run.requests:+d}"
        per = 1000 / max(run.requests, 1)
        other = run.cpu.machine_busy - run.cpu.server - run.cpu.postgres - run.cpu.client
        label = f"{run.name} #{run.round}" + (" *" if run.disturbed else "")
        print(
            f"{label:<16}{run.requests:>9}{run.rps:>9.1f}"
            f"{ms(run.latency_us['p50']):>10}{ms(run.latency_us['p90']):>10}"
            f"{ms(run.latency_us['p99']):>10}{run.unexpected:>11}{run.not_2xx_3xx:>8}"
            f"{errors:>7}{rows:>8}{diff:>6}"
            f"{run.cpu.server * per:>17.2f}{run.cpu.postgres * per:>6.2f}"
            f"{run.cpu.client * per:>6.2f}{other * per:>6.2f}"
        )
    print(
        "unexpected = responses whose status is not the run's expected one (302; 201 for"
        " conv-*), 4xx/5xx = responses outside 2xx/3xx, errors = socket errors and timeouts"
        " (5 s); rows = database rows the run wrote (clicks; conversions for conv-*), diff ="
        " rows - requests wrk completed"
    )
    print(
        "cpu ms/req = CPU time used during the run / requests completed: app = gunicorn, pg ="
        " postgres processes, wrk = load generator, other = the rest of the machine (kernel,"
        " other users; a high value means the run was disturbed)"
    )
    odd = [r for r in runs if r.unexpected or r.name.startswith("conv-")]
    if odd:
        print(
            "statuses: "
            + "; ".join(
                f"{r.name} #{r.round} "
                + ", ".join(f"{n} x {s}" for s, n in sorted(r.statuses.items()))
                for r in odd
            )
        )
    disturbed = [f"{r.name} #{r.round} ({r.other_cores:.2f} cores)" for r in runs if r.disturbed]
    if disturbed:
        print(
            f"* DISTURBED: other processes used more than {DISTURBED_CORES} cores during "
            + ", ".join(disturbed)
            + "; these figures are low, rerun on a quiet machine"
        )
    print()

    def total_rps(name: str) -> float:
        chosen = [r for r in runs if r.name == name]
        return sum(r.requests for r in chosen) / sum(r.duration_s for r in chosen)

    names = list(dict.fromkeys(r.name for r in runs))
    rps = {name: total_rps(name) for name in names}
    bare, redirect = rps["bare"], rps["redirect"]
    ratio = redirect / bare
    for name in names:
        chosen = [r for r in runs if r.name == name]
        pct = {
            p: statistics.mean(r.latency_us[p] for r in chosen) / 1000
            for p in ("p50", "p90", "p99")
        }
        vs_bare = "" if name == "bare" else f"   {rps[name] / bare:.3f} x bare"
        print(
            f"{name:<13} {rps[name]:8.1f} req/s   latency p50 {pct['p50']:.2f} ms"
            f"  p90 {pct['p90']:.2f} ms  p99 {pct['p99']:.2f} ms (mean over rounds){vs_bare}"
        )
    verdict = "meets" if ratio >= args.target else "BELOW"
    print(f"ratio redirect/bare: {ratio:.3f}  ({verdict} the {args.target} target)")

    redirects = [r for r in runs if r.name == "redirect"]
    served = sum(r.requests for r in redirects)
    recorded = sum(r.rows for r in redirects)
    lost = any(r.rows < r.requests for r in redirects)
    print(
        f"clicks: {recorded} recorded for {served} redirects completed by wrk "
        f"(difference {recorded - served:+d}; wrk does not count the <= {args.connections}"
        f" requests in flight when it stops, the server may still finish and record them)"
    )
    bad = sum(r.unexpected + sum(r.errors.values()) for r in runs)
    print(
        "click check: "
        + ("LOST CLICKS (fewer clicks than redirects)" if lost else "no click lost")
        + f"; responses with an unexpected status or socket errors: {bad}"
    )
    medians = targets_report(args, runs) if args.conversions else {}
    if queries:
        from bench.conversions import print_queries

        print_queries(queries, show=args.show_queries)
    if args.json:
        payload = {
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "rps": rps,
            "ratio": ratio,
            "clicks_recorded": recorded,
            "redirects_completed": served,
            "medians": medians,
            "queries": queries,
            "runs": [
                {
                    **vars(r),
                    "cpu": vars(r.cpu),
                    "rps": r.rps,
                    "rows": r.rows,
                    "disturbed": r.disturbed,
                }
                for r in runs
            ],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        log(f"wrote {args.json}")
    return not lost and bad == 0


def targets_report(args: argparse.Namespace, runs: list[Run]) -> dict:
    """Medians over rounds, their ratio to the bare 302 and the targets; returns the medians."""
    names = list(dict.fromkeys(r.name for r in runs))
    medians = {
        name: {
            key: statistics.median(
                r.rps if key == "rps" else r.latency_us[key] / 1000 for r in runs if r.name == name
            )
            for key in ("rps", "p50", "p90", "p99")
        }
        for name in names
    }
    bare = medians["bare"]["rps"]
    targets = {
        "conv-many": (args.many_target, args.p99_target),
        "conv-hot": (args.hot_target, None),
        "redirect": (args.target, None),
    }
    print()
    print(
        f"medians over {args.rounds} round(s); ratio = median req/s / median req/s of bare"
        " (latencies in ms):"
    )
    header = (
        f"{'endpoint':<13}{'req/s':>9}{'ratio':>8}{'target':>9}"
        f"{'p50':>8}{'p90':>8}{'p99':>8}{'p99 target':>12}  verdict"
    )
    print(header)
    print("-" * (len(header) + 12))
    for name in names:
        m = medians[name]
        m["ratio"] = m["rps"] / bare
        line = f"{name:<13}{m['rps']:>9.1f}{m['ratio']:>8.3f}"
        ratio_target, p99_target = targets.get(name, (None, None))
        line += f"{f'>= {ratio_target}' if ratio_target else '':>9}"
        line += f"{m['p50']:>8.2f}{m['p90']:>8.2f}{m['p99']:>8.2f}"
        line += f"{f'<= {p99_target:g} ms' if p99_target else '':>12}"
        if ratio_target:
            misses = []
            if m["ratio"] < ratio_target:
                misses.append("ratio")
            if p99_target and m["p99"] > p99_target:
                misses.append("p99")
            line += "  " + (f"BELOW ({', '.join(misses)})" if misses else "meets")
        print(line.rstrip())
    for kind in args.conversions:
        chosen = [r for r in runs if r.name == f"conv-{kind}"]
        created = sum(r.statuses.get("201", 0) for r in chosen)
        requests = sum(r.requests for r in chosen)
        recorded = sum(r.rows for r in chosen)
        print(
            f"conv-{kind}: {created} x 201 of {requests} responses, {requests - created} other"
            f" (see statuses above); {recorded} conversions recorded"
            f" ({recorded - created:+d} vs the 201s: requests in flight when wrk stopped)"
        )
    return medians


# --- main ---------------------------------------------------------------------------------


def bench_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CELERY_BROKER_URL", None)  # tasks eager; the redirect enqueues none anyway
    # Nothing leaves the machine: emails to the console (gunicorn's stdout is discarded),
    # no Stripe (the conversion runs' setup also refuses a program with webhook endpoints).
    for name in ("EMAIL_URL", "STRIPE_API_KEY", "STRIPE_API_BASE"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="0",
        SECRET_KEY="bench-only-secret-key-not-for-production-0123456789abcdef",  # noqa: S106
        ALLOWED_HOSTS=HOST,
        DATABASE_URL=args.database_url,
        PYTHONDONTWRITEBYTECODE="1",
        # A click spool of the bench's own: a served app elsewhere in this checkout
        # (make run, the tests) must not take over the bench's files, nor it theirs.
        CLICK_SPOOL_DIR=str(Path(tempfile.gettempdir()) / "advocacy-bench-clicks"),
        # The conversion runs send far more than a merchant's quota from one key.
        API_RATE_SECRET="",
        # Every click comes from one address: still counted (the limit's cost is part
        # of the measurement), never past the limit.
        REDIRECT_RATE_PER_IP="1000000000/m",
    )
    broker = getattr(args, "broker_url", "")
    if broker:
        # As in production: tasks and emails of a conversion are published to the broker
        # after commit, not run inside the web request. No worker consumes them: they
        # wait in one queue of the bench's own, deleted at the end (BrokerQueue).
        env.update(
            CELERY_BROKER_URL=broker,
            CELERY_QUEUE_ROUTING="0",
            CELERY_TASK_DEFAULT_QUEUE=args.broker_queue,
            # Rate-limit counters and the like stay in a folder: only tasks go to Redis.
            CACHE_URL="filecache://" + str(Path(tempfile.gettempdir()) / "advocacy-bench-cache"),
        )
    return env


def manage(env: dict[str, str], *command: str) -> None:
    log("manage.py " + " ".join(command))
    out = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if out.returncode:
        raise BenchError(f"manage.py {' '.join(command)} failed:\n{out.stdout}\n{out.stderr}")


def sanity_check(port: int, code: str) -> None:
    bare = fetch(port, "/bare/")
    redirect = fetch(port, f"/r/{code}")
    location = redirect.getheader("Location", "")
    if bare.status != 302 or redirect.status != 302 or "click=" not in location:
        raise BenchError(
            f"unexpected answers: /bare/ {bare.status}, /r/{code} {redirect.status} {location!r}"
            " (is the demo link active?)"
        )
    log(f"/r/{code} -> 302 {location}")


def django_step(env: dict[str, str], *command: str) -> dict:
    """Run ``bench/conversions.py <command>`` (Django, bench settings); its JSON result."""
    log("bench/conversions.py " + " ".join(command))
    out = subprocess.run(
        [str(VENV_BIN / "python"), str(BENCH_DIR / "conversions.py"), "--json", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    what = " ".join(command)
    raise BenchError(f"bench/conversions.py {what} failed:\n{out.stdout}\n{out.stderr}")


def conversion_sanity_check(port: int, args: argparse.Namespace, codes: dict) -> None:
    """One order by hand before wrk: 201, attributed to the advocate of the code."""
    from bench.conversions import conversion_body

    order_id = f"bench-{args.run_id}-sanity"
    response = fetch(
        port,
        "/api/v1/conversions",
        body=conversion_body(order_id, codes["hot"]),
        headers={"Authorization": f"Bearer {DEMO_SECRET_KEY}"},
    )
    body = json.loads(response.data or b"null") if response.status < 500 else None
    if response.status != 201 or not (body or {}).get("attributed"):
        raise BenchError(
            f"POST /api/v1/conversions answered {response.status}: {response.data[:500]!r}"
        )
    log(f"POST /api/v1/conversions -> 201, attributed to advocate {body['advocate_id']}")


def wait_for_quiet(sample: Callable[[], CpuSample], seconds: float) -> float:
    """Wait (at most ``seconds``) for the machine to be idle; returns the cores in use."""
    deadline = time.monotonic() + seconds
    while True:
        start = sample()
        time.sleep(2)
        busy = (sample() - start).machine_busy / 2
        if busy < DISTURBED_CORES:
            return busy
        if time.monotonic() >= deadline:
            log(f"warning: {busy:.2f} cores already busy before the run; expect noise")
            return busy
        log(f"{busy:.2f} cores busy with something else; waiting for a quiet machine")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds per measured run [10]")
    p.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per endpoint [3]")
    p.add_argument("--rounds", type=int, default=2, help="bare+redirect pairs [2]")
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers [2]")
    p.add_argument("--threads", type=int, default=2, help="wrk threads [2]")
    p.add_argument("--connections", type=int, default=16, help="wrk connections [16]")
    p.add_argument("--port", type=int, default=0, help="server port [a free one]")
    p.add_argument("--code", default="DEMO2345", help="referral code [DEMO2345]")
    p.add_argument("--target", type=float, default=0.8, help="ratio target [0.8]")
    p.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help=f"[{DEFAULT_DATABASE_URL}]",
    )
    p.add_argument(
        "--broker-url",
        default=os.environ.get("BENCH_BROKER_URL", ""),
        help="a Redis URL: the server publishes tasks there as in production (a queue of the"
        " bench's own, deleted at the end); unset: tasks run inside the web request [unset]",
    )
    p.add_argument("--skip-setup", action="store_true", help="skip createdb/migrate/seed_demo")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="wait up to this many seconds for other load to stop before starting [60]",
    )
    p.add_argument(
        "--floors",
        nargs="?",
        const=",".join(FLOORS),
        default="",
        metavar="LIST",
        help="also measure floor/insert/ (302 + raw INSERT), floor/redis/ (302 + RPUSH) and"
        " floor/buffer/ (302 + in-memory list INSERTed in batches), see bench/urls.py;"
        " all three, or a comma-separated subset",
    )
    p.add_argument(
        "--conversions",
        nargs="?",
        const=",".join(CONVERSIONS),
        default="",
        metavar="LIST",
        help="also measure POST /api/v1/conversions, a new order per request: 'many' (orders"
        " spread over --advocates advocates) and 'hot' (all for one advocate); both, or one;"
        " prints the medians against the targets and the SQL query count of one conversion",
    )
    p.add_argument("--advocates", type=int, default=200, help="advocates of the 'many' runs [200]")
    p.add_argument(
        "--show-queries",
        action="store_true",
        help="with --conversions: print the SQL statements of one conversion",
    )
    p.add_argument("--many-target", type=float, default=0.2, help="conv-many ratio target [0.2]")
    p.add_argument("--hot-target", type=float, default=0.1, help="conv-hot ratio target [0.1]")
    p.add_argument("--p99-target", type=float, default=100, help="conv-many p99 target, ms [100]")
    args = p.parse_args(argv)
    if min(args.duration, args.rounds, args.workers, args.threads, args.advocates) < 1:
        p.error("duration, rounds, workers and threads must be >= 1")
    if args.connections < args.threads:
        p.error("connections must be >= threads")
    args.floors = [name for name in args.floors.split(",") if name]
    if unknown := set(args.floors) - set(FLOORS):
        p.error(f"unknown floor(s) {', '.join(sorted(unknown))}; choose from {', '.join(FLOORS)}")
    args.conversions = [name for name in args.conversions.split(",") if name]
    if unknown := set(args.conversions) - set(CONVERSIONS):
        p.error(f"unknown conversion run(s) {', '.join(sorted(unknown))}; choose from many, hot")
    if args.show_queries and not args.conversions:
        p.error("--show-queries needs --conversions")
    # Conversion order ids start with it: unique per invocation (and per run, see run_tag).
    args.run_id = f"{int(time.time()):x}{os.getpid() % 10000:04d}"
    args.broker_queue = f"advocacy-bench-{args.run_id}"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "psql", "createdb"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found (apt-get install -y wrk postgresql-client)")
    db = Database(args.database_url)
    redis_queue = RedisQueue()
    broker_queue = BrokerQueue(args.broker_url, args.broker_queue) if args.broker_url else None
    env = bench_env(args)
    if not args.skip_setup:
        db.ensure_exists()
        manage(env, "migrate", "--noinput")
        # The documented demo keys: this is a bench machine, not a site (seed_demo refuses
        # them with DEBUG=0).
        manage({**env, "DEBUG": "1"}, "seed_demo")
    codes = queries = None
    if args.conversions:
        codes = django_step(env, "setup", "--advocates", str(args.advocates))
        queries = django_step(env, "queries", "--code", codes["many"][0])

    # SIGINT/SIGTERM/SIGHUP unwind, so the finally below always stops the server (SIGINT
    # too: a shell starts background jobs with it ignored).
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)

    with tempfile.TemporaryDirectory(prefix="advocacy-bench-") as workdir:
        server = Server(
            env=env, port=args.port or free_port(), workers=args.workers, workdir=Path(workdir)
        )
        try:
            server.start()
            sanity_check(server.port, args.code)
            if codes:
                conversion_sanity_check(server.port, args, codes)
            base = f"http://{HOST}:{server.port}"

            def clicks(tag: str) -> int:
                return db.settled_clicks(args.code)

            def conversions(tag: str) -> int:
                return db.settled(lambda: db.conversions(f"bench-{tag}-"))

            endpoints = [
                Endpoint("bare", f"{base}/bare/"),
                Endpoint("redirect", f"{base}/r/{args.code}", rows=clicks),
            ]
            for floor in args.floors:
                endpoints.append(
                    Endpoint(
                        f"floor-{floor}",
                        f"{base}/floor/{floor}/",
                        rows=(lambda tag: redis_queue.length()) if floor == "redis" else clicks,
                    )
                )
            for kind in args.conversions:
                kind_codes = codes["many"] if kind == "many" else [codes["hot"]]
                endpoints.append(
                    Endpoint(
                        f"conv-{kind}",
                        f"{base}/api/v1/conversions",
                        expected="201",
                        script=CONVERSION_LUA,
                        script_args=lambda tag, c=kind_codes: [tag, DEMO_SECRET_KEY, ",".join(c)],
                        rows=conversions,
                        rows_label="conversions",
                    )
                )

            def sample() -> CpuSample:
                return cpu_sample(server.proc.pid, db.name)

            busy = wait_for_quiet(sample, args.quiet_wait)
            args.loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
            args.busy_before = f"{busy * 100 / (os.cpu_count() or 1):.0f}%"
            if args.warmup:
                log(f"warm-up: {args.warmup}s per endpoint")
                for endpoint in endpoints:
                    tag = run_tag(args, endpoint, "w")
                    wrk(
                        args,
                        url=endpoint.url,
                        seconds=args.warmup,
                        script=endpoint.script,
                        script_args=endpoint.script_args(tag) if endpoint.script_args else None,
                    )
            runs = [
                measure(args, endpoint=endpoint, round_no=n, sample=sample)
                for n in range(1, args.rounds + 1)
                for endpoint in endpoints
            ]
            if server.proc.poll() is not None:
                raise BenchError(f"gunicorn died during the run:\n{server.log_tail()}")
        finally:
            server.stop()
            if "redis" in args.floors:
                redis_queue.clear()
            if broker_queue is not None:
                args.broker_messages = broker_queue.length()
                broker_queue.clear()
    return 0 if report(args, runs, queries) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        log(f"error: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
