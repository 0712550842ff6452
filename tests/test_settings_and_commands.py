"""Operator surface: production settings, commands, health check, API schema."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from advocacy.models import Advocate, ApiKey, Program, hash_key
from referrals.models import Conversion
from storefront import demo

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="kq3-Vz9rT_pW2mXc8LbN4sYh7JdF6gQe1UoAiZ5tRnKwBvCxM0lPjHyEuS",
        ALLOWED_HOSTS="advocacy.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_off_with_the_default_secret_key_refuses_to_start():
    result = _manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_secrets_are_read_from_files_and_the_deploy_check_passes(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("kq3-Vz9rT_pW2mXc8LbN4sYh7JdF6gQe1UoAiZ5tRnKwBvCxM0lPjHyEuS\n")
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY_FILE=str(secret),
        ALLOWED_HOSTS="advocacy.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_secret_from_a_file_is_stripped_and_clear_errors_name_the_variable(tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    from config.settings import _secrets_from_files

    (tmp_path / "stripe").write_text("sk_test_123\n")
    environ = {"STRIPE_API_KEY_FILE": str(tmp_path / "stripe")}
    _secrets_from_files(environ)
    assert environ["STRIPE_API_KEY"] == "sk_test_123"
    with pytest.raises(ImproperlyConfigured, match="STRIPE_API_KEY or STRIPE_API_KEY_FILE"):
        _secrets_from_files(
            {"STRIPE_API_KEY": "x", "STRIPE_API_KEY_FILE": str(tmp_path / "stripe")}
        )
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL_FILE: cannot read"):
        _secrets_from_files({"DATABASE_URL_FILE": str(tmp_path / "missing")})


def test_the_openapi_schema_is_valid():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "/api/v1/conversions" in out.getvalue()


def test_create_program_prints_its_keys_once_and_stores_only_hashes(db):
    out = StringIO()
    call_command(
        "create_program",
        "--name",
        "Spring Friends",
        "--landing-url",
        "https://shop.example.com/",
        "--allowed-domain",
        "example.com",
        "--currency",
        "NOK",
        "--advocate-reward",
        "100.50",
        "--friend-discount-percent",
        "15",
        "--hold-days",
        "7",
        "--attribution-days",
        "60",
        stdout=out,
    )
    printed = json.loads(out.getvalue())
    assert set(printed) == {"program", "secret_key", "publishable_key"}
    assert printed["secret_key"].startswith("sk_")
    assert printed["publishable_key"].startswith("pk_")
    program = Program.objects.get(slug=printed["program"])
    assert (program.currency, program.hold_days) == ("NOK", 7)
    rules = {r.name: r for r in program.reward_rules.all()}
    assert rules["Advocate reward"].amount_minor == 10050
    assert rules["Friend discount"].coupon_percent_off == 15
    assert program.attribution_window_days == 60
    assert program.allowed_domains == ["example.com"]
    secret = ApiKey.objects.get(program=program, kind="secret")
    assert secret.key_hash == hash_key(printed["secret_key"])
    assert printed["secret_key"] not in str(list(ApiKey.objects.values()))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--currency", "XXX"], "Unsupported currency"),
        (["--advocate-reward", "abc"], "--advocate-reward"),
        (["--advocate-reward", "-1"], "cannot be negative"),
        (["--friend-discount-percent", "150"], "percentage"),
        (["--landing-url", "not a url"], "landing_url"),
    ],
)
def test_create_program_explains_bad_input(db, args, message):
    base = ["--name", "X", "--landing-url", "https://shop.example.com/"]
    with pytest.raises(CommandError, match=message):
        call_command("create_program", *base, *args, stdout=StringIO())
    assert Program.objects.count() == 0


def test_seed_demo_is_idempotent_and_the_demo_keys_work(db, client, settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.DEBUG = True  # a development machine (the test runner turns DEBUG off)
    call_command("seed_demo", stdout=StringIO())
    counts = (Program.objects.count(), Advocate.objects.count(), Conversion.objects.count())
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert (Program.objects.count(), Advocate.objects.count(), Conversion.objects.count()) == counts
    assert demo.DEMO_SECRET_KEY in out.getvalue()
    jane = Advocate.objects.get(email="jane@example.com")
    response = client.get(
        f"/api/v1/advocates/{jane.pk}", HTTP_AUTHORIZATION=f"Bearer {demo.DEMO_SECRET_KEY}"
    )
    assert response.status_code == 200
    assert response.json()["referral_code"] == demo.DEMO_ADVOCATE_CODE
    assert client.get(f"/r/{demo.DEMO_ADVOCATE_CODE}").status_code == 302


def test_healthz_reports_the_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_healthz_reports_a_live_broker(require_broker, client, db):
    assert client.get("/healthz").json()["broker"] == "ok"


def test_healthz_reports_a_dead_broker_as_degraded_not_down(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 200  # the app still answers; its tasks wait in the outbox
    assert response.json()["status"] == "degraded"
    assert response.json()["broker"].startswith("error")


def test_healthz_is_503_when_the_database_is_down(client, db, monkeypatch):
    from django.db import connection

    def refused(*args, **kwargs):
        raise OSError("connection refused")

    with monkeypatch.context() as patched:  # undone before the test database's teardown
        patched.setattr(connection, "cursor", refused)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "error: OSError"


def test_the_api_docs_load_their_assets_from_the_project(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in response.content
    assert b"cdn.jsdelivr" not in response.content


def test_tasks_are_routed_to_the_emails_money_and_default_queues():
    from config.celery import app

    def queue(name):
        return app.amqp.router.route({}, name)["queue"].name

    assert queue("rewards.tasks.notify_advocate") == "emails"
    assert queue("referrals.tasks.send_invitation") == "emails"
    assert queue("rewards.tasks.send_payout") == "money"
    assert queue("rewards.tasks.mature_rewards") == "money"
    assert queue("integrations.tasks.process_stripe_event") == "money"
    assert queue("integrations.tasks.deliver_webhook") == "advocacy"


def test_seed_demo_refuses_the_published_credentials_in_production(db, settings):
    from django.contrib.auth.models import User

    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=0"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()

    out = StringIO()
    call_command("seed_demo", "--allow-production", stdout=out)
    admin = User.objects.get(username="admin")
    assert not admin.check_password(demo.DEMO_ADMIN_PASSWORD)
    printed = out.getvalue().split(f"login: {demo.DEMO_ADMIN_EMAIL} / ")[1].split()[0]
    assert admin.check_password(printed)
    assert not ApiKey.objects.filter(key_hash=hash_key(demo.DEMO_SECRET_KEY)).exists()
    secret = out.getvalue().split("Secret key:")[1].split()[0]
    assert ApiKey.objects.filter(key_hash=hash_key(secret), kind="secret").exists()
