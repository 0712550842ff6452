"""Mutation testing of the code that moves money or decides attribution (``make mutation``).

Not a test module (pytest collects ``test_*.py`` only) and not part of CI: it is slow.

    make mutation                              # every module below, one after the other
    make mutation MODULE=rewards/ledger.py     # one module, a few minutes
    make mutation MODULE=rewards/ledger.py MUTATION_CHILDREN=2

Each module is mutated by mutmut in a scratch copy of the project
(``var/mutation/<module>/``), against the tests that exercise it (``TARGETS``),
on SQLite, so nothing in the working tree is ever changed. mutmut first runs
those tests once to learn which test reaches which function, then runs each
mutant against only the tests that reach it. The survivors are printed at the
end with ``mutmut show``-style diffs and the score (killed / all mutants).

mutmut keeps the mutants and its map of tests in the scratch copy, so a second
run skips that first pass; it re-tests every mutant it is given. ``--resume``
goes on with an interrupted ``--at`` run, ``--since`` re-tests the survivors of
one. ``make mutation MODULE=... MUTATION_FRESH=1`` starts over.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "var" / "mutation"

# Module -> (functions to mutate, or None for all; the tests that exercise it).
# Not tests/referrals/test_bad_input.py for a function its NUL-byte cases reach
# (``idempotency_key``): mutmut passes test ids back to pytest, which cannot match
# an id with an escaped ``\x00`` in it, and the run stops.
# The functions named limit a shared module to the part that moves money.
TARGETS: dict[str, tuple[list[str] | None, list[str]]] = {
    "rewards/rules.py": (
        [
            "_purchase_number",
            "_check_trigger",
            "_check_limits",
            "_check_budget",
            "_amount",
            "_apply",
            "rules_apply",
            "_decide",
            "_matches_trigger",
            "rewards_for_signup",
            "rewards_for_purchase",
        ],
        [
            "tests/rewards/test_rules.py",
            "tests/rewards/test_rule_edges.py",
            "tests/rewards/test_money_edges.py",
            "tests/nurture/test_tiers.py",
        ],
    ),
    "rewards/services.py": (
        [
            "reward_mature",
            "reward_reverse",
            "rewards_reverse_all",
            "rewards_reverse_for_refund",
        ],
        [
            "tests/rewards/test_ledger.py",
            "tests/rewards/test_money_edges.py",
            "tests/rewards/test_rules.py",
            "tests/rewards/test_payouts.py",
            "tests/referrals/test_self_referral_by_card.py",
        ],
    ),
    "rewards/ledger.py": (
        None,
        [
            "tests/rewards/test_ledger.py",
            "tests/rewards/test_catalog.py",
            "tests/rewards/test_payouts.py",
            "tests/rewards/test_money_edges.py",
        ],
    ),
    "rewards/payouts.py": (
        [
            "payout_create",
            "payout_execute",
            "payout_mark_paid",
            "payout_fail",
            "payout_reversed",
            "_return_money",
        ],
        [
            "tests/rewards/test_payout_edges.py",
            "tests/rewards/test_payouts.py",
            "tests/rewards/test_stripe_webhooks.py",
            "tests/rewards/test_money_edges.py",
        ],
    ),
    "rewards/catalog.py": (
        ["points_redeem", "redemption_cancel"],
        [
            "tests/rewards/test_catalog_edges.py",
            "tests/rewards/test_catalog.py",
            "tests/rewards/test_money_edges.py",
        ],
    ),
    "referrals/services.py": (
        ["conversion_refund", "_same_order"],
        [
            "tests/referrals/test_conversion_edges.py",
            "tests/referrals/test_attribution.py",
            "tests/referrals/test_bad_input.py",
            "tests/referrals/test_stripe_attribution.py",
            "tests/referrals/test_concurrency.py",
            "tests/rewards/test_ledger.py",
            "tests/rewards/test_money_edges.py",
        ],
    ),
    "rewards/flows.py": (
        ["conversion_record", "_conversion_record"],
        [
            "tests/referrals/test_conversion_edges.py",
            "tests/referrals/test_attribution.py",
            "tests/storefront/test_conversion_queries.py",
            "tests/rewards/test_money_edges.py",
        ],
    ),
    "storefront/idempotency.py": (
        None,
        [
            "tests/referrals/test_idempotency_keys.py",
            "tests/referrals/test_attribution.py",
            "tests/referrals/test_concurrency.py",
            "tests/rewards/test_money_edges.py",
        ],
    ),
}

# Everything the project needs to import and run its tests.
COPY = [
    "config",
    "core",
    "advocacy",
    "referrals",
    "rewards",
    "console",
    "portal",
    "storefront",
    "integrations",
    "privacy",
    "recruitment",
    "fraud",
    "nurture",
    "measurement",
    "templates",
    "static",
    "locale",
    "manage.py",
]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules")


def _slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", "_")


def _scratch(module: str, at: str | None) -> Path:
    return SCRATCH / (_slug(module) + (f"@{at}" if at else ""))


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def _prepare(module: str, fresh: bool, at: str | None) -> Path:
    _, tests = TARGETS[module]
    where = _scratch(module, at)
    if fresh and where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True, exist_ok=True)
    for name in [*COPY, "tests"]:
        source, target = ROOT / name, where / name
        if target.is_dir():
            shutil.rmtree(target)
        if at:
            # The project as of a commit (a "before" score), never the working tree's edits.
            archive = subprocess.run(
                ["git", "archive", at, name], cwd=ROOT, capture_output=True, check=False
            )
            if archive.returncode == 0:
                subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
        elif source.is_dir():
            shutil.copytree(source, target, ignore=IGNORE)
        elif source.exists():
            shutil.copy2(source, target)
    tests = [t for t in tests if (where / t).exists()]
    app = module.split("/")[0]
    config = (ROOT / "pyproject.toml").read_text()
    config += f"""

[tool.mutmut]
source_paths = ["{app}"]
only_mutate = ["{module}"]
also_copy = {_toml_list([n for n in COPY if n != app])}
pytest_add_cli_args = [
    "--ds=config.settings_mutation", "--reuse-db", "--nomigrations", "-p", "no:cacheprovider"
]
pytest_add_cli_args_test_selection = {_toml_list(tests)}
timeout_multiplier = 5.0
timeout_constant = 20.0
use_git_change_detection = false
"""
    (where / "pyproject.toml").write_text(config)
    # One SQLite test database, migrated once and reused by every mutant's run
    # (migrating for each mutant would cost more than the tests themselves).
    (where / "config" / "settings_mutation.py").write_text(
        "from config.settings import *  # noqa: F403\n\n"
        'DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "mutation-test.sqlite3")}'
        "  # noqa: F405\n"
    )
    for stale in (where / "mutants").glob("mutation-test.sqlite3*"):
        stale.unlink()
    return where


def _mutmut(where: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REQUIRE_SERVICES"):
        env.pop(name, None)  # SQLite and eager tasks: fast, and no shared service touched
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "mutmut"), *args],
        cwd=where,
        env=env,
        text=True,
        capture_output=args[0] != "run",
        check=False,
    )


def run_module(
    module: str,
    *,
    children: int,
    fresh: bool,
    names: list[str],
    at: str | None = None,
    since: str | None = None,
    resume: bool = False,
) -> tuple[int, int]:
    where = _prepare(module, fresh, at)
    functions, _ = TARGETS[module]
    prefix = module.removesuffix(".py").replace("/", ".")
    earlier = None
    if since:
        # The suite only grew since then: what it killed stays killed; re-test the rest.
        earlier = json.loads((_scratch(module, since) / "score.json").read_text())
        names = names or earlier["survivors"]
    selection = names or (
        [f"{prefix}.x_{f}__mutmut_*" for f in functions] if functions else [f"{prefix}.*"]
    )
    print(f"== {module}: mutating {', '.join(functions) if functions else 'every function'}")
    meta = where / "mutants" / (module + ".meta")
    if resume and meta.exists():
        # An interrupted run goes on where it stopped: only the mutants not tested yet.
        decided = json.loads(meta.read_text())["exit_code_by_key"]
        selection = [
            n
            for n, code in decided.items()
            if code is None and any(_matches(n, s) for s in selection)
        ]
        print(f"   resuming: {len(selection)} mutants not tested yet")
    if selection:
        _mutmut(where, "run", "--max-children", str(children), *selection)
    selection = names or (
        [f"{prefix}.x_{f}__mutmut_*" for f in functions] if functions else [f"{prefix}.*"]
    )
    listed = _mutmut(where, "results", "--all", "true").stdout.splitlines()
    statuses = {}
    for line in listed:
        name, _, status = line.strip().partition(": ")
        if name.startswith(prefix + ".") and any(_matches(name, s) for s in selection):
            statuses[name] = status.strip()
    survivors = sorted(
        n for n, s in statuses.items() if s not in ("killed", "caught by type check")
    )
    for name in survivors:
        print(f"\n-- {name}: {statuses[name]}")
        if statuses[name] != "no tests":  # no test reaches the function: nothing to show
            print(_mutmut(where, "show", name).stdout.strip())
    total = earlier["total"] if earlier else len(statuses)
    killed = total - len(survivors)
    (where / "score.json").write_text(
        json.dumps({"killed": killed, "total": total, "survivors": survivors}, indent=1)
    )
    score = f"{100 * killed / total:.1f}%" if total else "n/a"
    print(f"\n== {module}: {killed}/{total} mutants killed ({score}); {len(survivors)} left")
    return killed, total


def _matches(name: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatch(name, pattern)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?", help="e.g. rewards/ledger.py (default: all)")
    parser.add_argument("--children", type=int, default=1, help="mutants run at once")
    parser.add_argument("--fresh", action="store_true", help="forget cached results")
    parser.add_argument("--at", help="mutate and test the project as of this commit")
    parser.add_argument("--since", help="re-test only the survivors of the run --at this commit")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="go on with an interrupted run: test only the mutants it has not tested yet "
        "(the code mutated must not have changed since: use it with --at)",
    )
    parser.add_argument("names", nargs="*", help="only these mutants (mutmut names or globs)")
    args = parser.parse_args(argv)
    modules = [args.module] if args.module else list(TARGETS)
    unknown = [m for m in modules if m not in TARGETS]
    if unknown:
        print(f"unknown module {unknown[0]}; one of: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    table = []
    for module in modules:
        killed, total = run_module(
            module,
            children=args.children,
            fresh=args.fresh,
            names=args.names,
            at=args.at,
            since=args.since,
            resume=args.resume,
        )
        table.append((module, killed, total))
    if len(table) > 1:
        print("\nmodule                      killed/total")
        for module, killed, total in table:
            print(f"{module:<28}{killed}/{total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
