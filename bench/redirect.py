"""Requests per second of ``GET /r/<code>`` against a bare 302 view, on one gunicorn server.

Run from anywhere (see README.md)::

    .venv/bin/python bench/redirect.py [--duration 10] [--workers 2] [--connections 16]

It creates/migrates/seeds the PostgreSQL database, starts gunicorn on 127.0.0.1 with
``bench.settings`` and DEBUG=0, warms up, then alternates ``bare`` and ``redirect`` runs
with wrk, counts the clicks each redirect run recorded, and stops the server on exit.
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
HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/advocacy_bench"
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}  # what the TLS proxy sends; see redirect.lua
CLK_TCK = os.sysconf("SC_CLK_TCK")
FLOORS = ("insert", "redis", "buffer")  # views in bench/urls.py
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

    def settled_clicks(self, code: str, *, timeout: float = 10.0) -> int:
        """The click count once requests still in flight when wrk stopped have finished."""
        deadline = time.monotonic() + timeout
        last, stable = self.clicks(code), 0
        while stable < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.clicks(code)
            stable = stable + 1 if now == last else 0
            last = now
        return last


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


def fetch(port: int, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", path, headers=PROXY_HEADERS)
        response = conn.getresponse()
        response.read()
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
class Run:
    name: str
    round: int
    requests: int
    duration_s: float
    latency_us: dict[str, float]
    errors: dict[str, int]
    statuses: dict[str, int]
    cpu: CpuUsed
    clicks_before: int | None = None
    clicks_after: int | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def clicks(self) -> int | None:
        if self.clicks_before is None or self.clicks_after is None:
            return None
        return self.clicks_after - self.clicks_before

    @property
    def other_cores(self) -> float:
        """Cores used by something else than gunicorn, postgres and wrk during the run."""
        cpu = self.cpu
        return (cpu.machine_busy - cpu.server - cpu.postgres - cpu.client) / self.duration_s

    @property
    def disturbed(self) -> bool:
        return self.other_cores > DISTURBED_CORES

    @property
    def non_302(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "302")


def wrk(args: argparse.Namespace, *, url: str, seconds: int) -> dict:
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s"]
    cmd += ["--timeout", "5s", "-s", str(LUA_SCRIPT), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    raise BenchError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")


def measure(
    args: argparse.Namespace,
    *,
    name: str,
    url: str,
    round_no: int,
    sample: Callable[[], CpuSample],
    counter: Callable[[], int] | None,
) -> Run:
    before = counter() if counter else None
    cpu_before = sample()
    result = wrk(args, url=url, seconds=args.duration)
    cpu = sample() - cpu_before
    after = counter() if counter else None
    run = Run(
        name=name,
        round=round_no,
        requests=result["requests"],
        duration_s=result["duration_us"] / 1e6,
        latency_us=result["latency_us"],
        errors=result["errors"],
        statuses=result["statuses"],
        cpu=cpu,
        clicks_before=before,
        clicks_after=after,
    )
    log(
        f"round {round_no} {name:12s} {run.rps:8.1f} req/s  p50 {ms(run.latency_us['p50'])}"
        f"  p99 {ms(run.latency_us['p99'])}"
        + (f"  clicks +{run.clicks} for {run.requests} requests" if run.clicks is not None else "")
    )
    return run


# --- report -------------------------------------------------------------------------------


def ms(us: float) -> str:
    return f"{us / 1000:6.2f} ms"


def report(args: argparse.Namespace, runs: list[Run]) -> bool:
    """Print the results; True when no click was lost and every response was a 302."""
    print()
    print(
        f"GET /r/{args.code} vs GET /bare/  |  gunicorn {args.workers} sync workers, "
        f"wrk {args.threads} threads / {args.connections} connections, {args.duration}s per run,"
        f" {args.rounds} round(s), {os.cpu_count()} CPUs, before the run: loadavg"
        f" {args.loadavg}, CPU {args.busy_before} busy"
    )
    print()
    header = (
        f"{'run':<16}{'requests':>9}{'req/s':>9}{'p50':>10}{'p90':>10}{'p99':>10}"
        f"{'non-302':>8}{'errors':>7}{'clicks':>8}{'diff':>6}"
        f"{'cpu ms/req: app':>17}{'pg':>6}{'wrk':>6}{'other':>6}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        errors = sum(run.errors.values())
        clicks = "" if run.clicks is None else str(run.clicks)
        diff = "" if run.clicks is None else f"{run.clicks - run.requests:+d}"
        per = 1000 / max(run.requests, 1)
        other = run.cpu.machine_busy - run.cpu.server - run.cpu.postgres - run.cpu.client
        label = f"{run.name} #{run.round}" + (" *" if run.disturbed else "")
        print(
            f"{label:<16}{run.requests:>9}{run.rps:>9.1f}"
            f"{ms(run.latency_us['p50']):>10}{ms(run.latency_us['p90']):>10}"
            f"{ms(run.latency_us['p99']):>10}{run.non_302:>8}{errors:>7}{clicks:>8}{diff:>6}"
            f"{run.cpu.server * per:>17.2f}{run.cpu.postgres * per:>6.2f}"
            f"{run.cpu.client * per:>6.2f}{other * per:>6.2f}"
        )
    print(
        "cpu ms/req = CPU time used during the run / requests completed: app = gunicorn, pg ="
        " postgres processes, wrk = load generator, other = the rest of the machine (kernel,"
        " other users; a high value means the run was disturbed)"
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
    recorded = sum(r.clicks for r in redirects)
    lost = any(r.clicks < r.requests for r in redirects)
    print(
        f"clicks: {recorded} recorded for {served} redirects completed by wrk "
        f"(difference {recorded - served:+d}; wrk does not count the <= {args.connections}"
        f" requests in flight when it stops, the server may still finish and record them)"
    )
    bad = sum(r.non_302 + sum(r.errors.values()) for r in runs)
    print(
        "click check: "
        + ("LOST CLICKS (fewer clicks than redirects)" if lost else "no click lost")
        + f"; non-302 responses or socket errors: {bad}"
    )
    if args.json:
        payload = {
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "rps": rps,
            "ratio": ratio,
            "clicks_recorded": recorded,
            "redirects_completed": served,
            "runs": [
                {
                    **vars(r),
                    "cpu": vars(r.cpu),
                    "rps": r.rps,
                    "clicks": r.clicks,
                    "disturbed": r.disturbed,
                }
                for r in runs
            ],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        log(f"wrote {args.json}")
    return not lost and bad == 0


# --- main ---------------------------------------------------------------------------------


def bench_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CELERY_BROKER_URL", None)  # tasks eager; the redirect enqueues none anyway
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="0",
        SECRET_KEY="bench-only-secret-key-not-for-production-0123456789abcdef",  # noqa: S106
        ALLOWED_HOSTS=HOST,
        DATABASE_URL=args.database_url,
        PYTHONDONTWRITEBYTECODE="1",
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
    args = p.parse_args(argv)
    if min(args.duration, args.rounds, args.workers, args.threads) < 1:
        p.error("duration, rounds, workers and threads must be >= 1")
    if args.connections < args.threads:
        p.error("connections must be >= threads")
    args.floors = [name for name in args.floors.split(",") if name]
    if unknown := set(args.floors) - set(FLOORS):
        p.error(f"unknown floor(s) {', '.join(sorted(unknown))}; choose from {', '.join(FLOORS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "psql", "createdb"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found (apt-get install -y wrk postgresql-client)")
    db = Database(args.database_url)
    redis_queue = RedisQueue()
    env = bench_env(args)
    if not args.skip_setup:
        db.ensure_exists()
        manage(env, "migrate", "--noinput")
        manage(env, "seed_demo")

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
            base = f"http://{HOST}:{server.port}"
            urls = {"bare": f"{base}/bare/", "redirect": f"{base}/r/{args.code}"}
            counters = {"redirect": lambda: db.settled_clicks(args.code)}
            for floor in args.floors:
                urls[f"floor-{floor}"] = f"{base}/floor/{floor}/"
                counters[f"floor-{floor}"] = (
                    redis_queue.length if floor == "redis" else counters["redirect"]
                )

            def sample() -> CpuSample:
                return cpu_sample(server.proc.pid, db.name)

            busy = wait_for_quiet(sample, args.quiet_wait)
            args.loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
            args.busy_before = f"{busy * 100 / (os.cpu_count() or 1):.0f}%"
            if args.warmup:
                log(f"warm-up: {args.warmup}s per endpoint")
                for url in urls.values():
                    wrk(args, url=url, seconds=args.warmup)
            runs = [
                measure(
                    args,
                    name=name,
                    url=url,
                    round_no=n,
                    sample=sample,
                    counter=counters.get(name),
                )
                for n in range(1, args.rounds + 1)
                for name, url in urls.items()
            ]
            if server.proc.poll() is not None:
                raise BenchError(f"gunicorn died during the run:\n{server.log_tail()}")
        finally:
            server.stop()
            if "redis" in args.floors:
                redis_queue.clear()
    return 0 if report(args, runs) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        log(f"error: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
