"""Settings, read from the environment only (a ``.env`` file is read when present).

With nothing set the project runs on SQLite with tasks executed in-process;
``DATABASE_URL`` and ``CELERY_BROKER_URL`` switch to PostgreSQL and Redis.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

# Secrets may come from files (Docker and systemd credentials, Kubernetes secrets):
# SECRET_KEY_FILE=/run/secrets/secret_key instead of SECRET_KEY=…, and so on.
SECRETS_FROM_FILES = (
    "SECRET_KEY",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "EMAIL_URL",
    "STRIPE_API_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "EMAIL_WEBHOOK_SECRET",
)


def _secrets_from_files(environ: dict) -> None:
    for name in SECRETS_FROM_FILES:
        path = environ.get(f"{name}_FILE")
        if not path:
            continue
        if environ.get(name):
            raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
        try:
            environ[name] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {error}") from error


_secrets_from_files(os.environ)

DEV_SECRET_KEY = "dev-insecure-secret-key-do-not-use-in-production"  # noqa: S105

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("DEBUG=0 requires SECRET_KEY to be set to a real secret.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# The name allauth's emails carry (else the program's, when there is one, else the domain).
SITE_NAME = env.str("SITE_NAME", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",  # staff two-factor sign-in (core/staff_mfa.py)
    # Social sign-in: a provider appears on the sign-in page once a manager adds
    # its client id and secret in admin (Social accounts -> Social applications).
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.facebook",
    "axes",  # failed sign-ins: lockout per account and address
    "csp",  # Content-Security-Policy (core/csp.py)
    # The layers, bottom up (import-linter checks them in `make test`):
    "core",  # plumbing: errors, money, API errors, email sending, CORS
    "advocacy",  # programs, API keys, advocates, the audit log
    "referrals",  # links, clicks, referred friends, conversions, attribution
    "rewards",  # rules, rewards, the ledger, coupons, catalog, payouts
    "recruitment",  # customers, advocate scores, segments, invitation campaigns, NPS
    "nurture",  # tiers, challenges, testimonials, recognition, advocate emails
    "fraud",  # fraud signals, risk scores, rules per program, the review queue
    "console",  # program managers' admin
    "portal",  # the advocate portal
    "storefront",  # the merchant's side: REST API, embed script, widget, demo shop
    "integrations",  # webhooks to merchants, events from Stripe
    "privacy",  # data export, erasure, email preferences
    "measurement",  # rollups, metrics, goals, the dashboard, reports, experiments
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # GET /r/<code> of a known link is answered here (referrals/middleware.py): a
    # redirect needs no Content-Security-Policy, sessions or anything below.
    "referrals.middleware.ReferralRedirectMiddleware",
    "core.csp.ContentSecurityPolicyMiddleware",
    "core.cors.BrowserApiCorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "core.staff_mfa.StaffTwoFactorMiddleware",
    "advocacy.middleware.AdvocateLanguageMiddleware",
    # Last, as django-axes asks: answers a locked-out sign-in with 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    # SQLite, the embedded default, safe with several web workers and a Celery worker:
    # write-ahead logging (readers never block the writer), and each transaction takes
    # the write lock when it begins (IMMEDIATE), so concurrent writers queue for up to
    # the timeout instead of failing half-way with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a sign-in while its account and address are locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("nb", "Norsk bokmål"),
    ("sv", "Svenska"),
    ("ro", "Română"),
    ("zh-hans", "简体中文"),
]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

SITE_ID = 1
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:home"

# django-allauth: email + password, verified email.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_ADAPTER = "advocacy.adapters.AccountAdapter"

# Two-factor sign-in (allauth's MFA): an authenticator app (TOTP) with recovery codes.
# The admin signs in through allauth, so its staff get the code step too. With
# STAFF_REQUIRE_2FA on, staff without an authenticator must set one up before the
# admin opens (core/staff_mfa.py). On by default in production, off with DEBUG=1.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Advocacy")
STAFF_REQUIRE_2FA = env.bool("STAFF_REQUIRE_2FA", default=not DEBUG)

# Email: console by default, EMAIL_URL=smtp://host:port for a real server.
_email = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(_email)
# Every email goes through the logging backend (core.mail), which delivers with this
# one and records each message in the admin's email log.
EMAIL_DELIVERY_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_BACKEND = "core.mail.LoggingEmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Advocacy <no-reply@localhost>")

# Celery: without a broker, tasks run eagerly in the calling process (tests, commands).
# `make run` (manage.py serve) starts a worker with beat on an embedded broker instead.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
VAR_DIR = BASE_DIR / "var"  # the embedded broker's messages, beat's schedule
CELERY_BEAT_SCHEDULE_FILE = VAR_DIR / "celerybeat-schedule"
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# In-process tasks behave as in a worker: a retry runs again (at once), and a
# failure is logged and kept in the result, never raised into the caller.
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="advocacy")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker waits out a broker outage of any length (retrying every 30 s at most)
# instead of exiting after Celery's default 100 attempts (about 48 minutes).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "relay-outbox": {
        "task": "core.tasks.relay_outbox",
        "schedule": timedelta(seconds=env.int("OUTBOX_RELAY_EVERY_SECONDS", default=10)),
    },
    "mature-rewards": {
        "task": "rewards.tasks.mature_rewards",
        "schedule": timedelta(minutes=env.float("MATURE_REWARDS_EVERY_MINUTES", default=5)),
    },
    "process-pending-stripe-events": {
        "task": "integrations.tasks.process_pending_stripe_events",
        "schedule": timedelta(minutes=5),
    },
    "issue-pending-coupon-codes": {
        "task": "rewards.tasks.issue_pending_coupon_codes",
        "schedule": timedelta(minutes=5),
    },
    "deliver-due-webhooks": {
        "task": "integrations.tasks.deliver_due_webhooks",
        # Often: an attempt cut off by a dead worker is made again within its claim
        # (timeout + 10 s) plus this.
        "schedule": timedelta(seconds=15),
    },
    # A payout a dead worker left "sending" is resent within STALE_SENDING plus this,
    # whatever the period of run-payouts.
    "resend-payouts": {
        "task": "rewards.tasks.resend_payouts",
        "schedule": timedelta(minutes=5),
    },
    "run-payouts": {
        "task": "rewards.tasks.run_payouts",
        "schedule": timedelta(minutes=env.float("RUN_PAYOUTS_EVERY_MINUTES", default=60)),
    },
    # Flagged rewards nobody reviewed by the program's deadline get its default decision.
    "decide-overdue-fraud-reviews": {
        "task": "fraud.tasks.decide_overdue_reviews",
        "schedule": timedelta(hours=1),
    },
    # Recruitment: due campaigns and reminders, joins, interrupted sends; nightly rescoring.
    "recruitment-campaigns-sweep": {
        "task": "recruitment.tasks.campaigns_sweep",
        "schedule": timedelta(minutes=1),
    },
    "recruitment-rescore-customers": {
        "task": "recruitment.tasks.rescore_customers",
        "schedule": timedelta(hours=env.float("RESCORE_EVERY_HOURS", default=24)),
    },
    # Measurement: rebuild the days marked changed; the hourly sweep is the safety net.
    "refresh-rollups": {
        "task": "measurement.tasks.refresh_rollups",
        "schedule": timedelta(minutes=1),
    },
    "sweep-rollups": {
        "task": "measurement.tasks.sweep_rollups",
        "schedule": timedelta(hours=1),
    },
    "weekly-reports": {
        "task": "measurement.tasks.send_weekly_reports",
        "schedule": crontab(minute=0, hour=7, day_of_week="mon"),
    },
    # Nurture's safety net and due emails: tiers, welcome sequence, review requests, ...
    "nurture-hourly": {"task": "nurture.tasks.nurture_hourly", "schedule": timedelta(hours=1)},
}
# Redis redelivers a task whose worker died (acks_late) after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # How often a worker sweeps for tasks abandoned by a dead worker (seconds x N).
    "unacked_restore_interval": env.int("CELERY_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_RESTORE_THROTTLE", default=10),
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: one folder of message files shared by all processes.
    (VAR_DIR / "broker").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            "data_folder_in": str(VAR_DIR / "broker"),
            "data_folder_out": str(VAR_DIR / "broker"),
            "polling_interval": 0.2,
        }
    )
# Three queues, so emails, money and the rest can have workers of their own:
# `celery -A config worker -Q money` and so on; one worker may consume all three.
CELERY_QUEUES_ALL = [CELERY_TASK_DEFAULT_QUEUE, "emails", "money"]
if env.bool("CELERY_QUEUE_ROUTING", default=True):
    CELERY_TASK_ROUTES = {
        "referrals.tasks.send_invitation": {"queue": "emails"},
        "recruitment.tasks.campaign_send_batch": {"queue": "emails"},
        "recruitment.tasks.send_nps_survey": {"queue": "emails"},
        "rewards.tasks.notify_advocate": {"queue": "emails"},
        "rewards.tasks.*": {"queue": "money"},
        "integrations.tasks.process_stripe_event": {"queue": "money"},
        "integrations.tasks.process_pending_stripe_events": {"queue": "money"},
    }


# Outgoing webhooks to merchants.
def _seconds(name: str, default: list[int]) -> list[int]:
    """A comma-separated list of whole seconds >= 0, e.g. ``60,300,1800``."""
    raw = env.str(name, default="")
    if not raw.strip():
        return default
    try:
        values = [int(item) for item in raw.split(",") if item.strip()]
    except ValueError:
        values = [-1]
    if not values or any(v < 0 for v in values):
        raise ImproperlyConfigured(
            f"{name} must be whole seconds >= 0 like '60,300,1800', not {raw!r}."
        )
    return values


# 60 s, 5 min, 30 min, 2 h, 6 h, 12 h, 12 h: eight attempts over about 32 hours.
WEBHOOK_RETRY_DELAYS_DEFAULT = [60, 300, 1800, 7200, 21600, 43200, 43200]
WEBHOOK_RETRY_DELAYS = _seconds("WEBHOOK_RETRY_DELAYS", WEBHOOK_RETRY_DELAYS_DEFAULT)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10)
# Endpoints on loopback or private addresses: for development and tests only.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=DEBUG)

# Stripe: features switch on when a key is set.
STRIPE_API_KEY = env.str("STRIPE_API_KEY", default="")
# Rate limits. Counters live in the default cache, which every web process shares:
# Redis when CACHE_URL or a Redis broker is set, else a folder under var/.
_redis_default = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
CACHES = {
    "default": env.cache_url(
        "CACHE_URL",
        default=(
            _redis_default.replace("redis://", "rediscache://", 1)
            if _redis_default
            else f"filecache://{VAR_DIR / 'cache'}"
        ),
    )
}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Redis down: serve without limits rather than answer 500 (core/cache.py).
    CACHES["default"]["BACKEND"] = "core.cache.ResilientRedisCache"
RATELIMIT_FAIL_OPEN = True
# Proxies in front of the app that append to X-Forwarded-For (nginx: 1). The client
# address of every limit, of django-axes and of allauth is read past these.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
AXES_CLIENT_IP_CALLABLE = "core.rate_limits.client_ip"
# API requests per window ("N/s", "N/m", "N/h"; empty: no limit): a secret key as a
# whole, a publishable key per client address, calls without a key per address, and
# wrong keys per address.
API_RATE_LIMITS = {
    "secret": env.str("API_RATE_SECRET", default="20000/m"),
    "publishable": env.str("API_RATE_PUBLISHABLE", default="300/m"),
    "publishable_total": env.str("API_RATE_PUBLISHABLE_TOTAL", default="6000/m"),
    "anonymous": env.str("API_RATE_ANONYMOUS", default="120/m"),
    "invalid_key": env.str("API_RATE_INVALID_KEY", default="30/m"),
}
# Coupon and deal sites: a click whose Referer is on one of these (or a subdomain)
# flags the referral (fraud signal coupon_site, docs/fraud.md). Comma-separated to
# replace the list.
FRAUD_COUPON_SITES = env.list(
    "FRAUD_COUPON_SITES",
    default=[
        "retailmenot.com", "couponfollow.com", "coupons.com", "slickdeals.net", "dealspotr.com",
        "knoji.com", "wethrift.com", "couponbirds.com", "promocodes.com", "dontpayfull.com",
        "offers.com", "savings.com", "hotdeals.com", "joinhoney.com", "couponcabin.com",
        "groupon.com", "vouchercodes.co.uk", "myvouchercodes.co.uk", "vouchercloud.com",
        "hotukdeals.com", "latestdeals.co.uk", "mydealz.de", "sparwelt.de", "gutscheine.de",
        "dealabs.com", "ma-reduc.com", "cuponation.com", "pepper.com", "ozbargain.com.au",
        "discountcode.com", "promocode.com", "couponchief.com", "simplycodes.com",
    ],
)  # fmt: skip
# Clicks on /r/<code> per client address ("N/s", "N/m", "N/h"; empty: no limit). Past
# it the visitor is still sent to the shop, but no click is recorded and no
# attribution set (a bot cannot inflate clicks or hand out click ids).
REDIRECT_RATE_PER_IP = env.str("REDIRECT_RATE_PER_IP", default="120/m")
# Its counts are kept in each web process and added to the shared counters this often
# (core/rate_limits.py): a redirect does no I/O for its limit. 0: every click is one
# increment of the shared counter.
RATE_LIMIT_FLUSH_MS = env.int("RATE_LIMIT_FLUSH_MS", default=50)
# A rotated API key keeps working this long beside its replacement, then stops.
API_KEY_ROTATION_OVERLAP_HOURS = env.int("API_KEY_ROTATION_OVERLAP_HOURS", default=24)
# Failed sign-ins (admin and portal): AXES_FAILURE_LIMIT wrong passwords for one
# account from one address lock that pair out for LOGIN_LOCKOUT_MINUTES. Locking by
# account alone would let anyone lock an advocate out; by address alone would let a
# botnet guess freely; allauth also limits failures per address.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "core.rate_limits.login_username"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "core.rate_limits.login_locked_out"
# allauth counts failures per address only; per account and address is axes above.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip"}

STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=20)
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# The shared secret of POST /webhooks/email/bounces (the mail provider's bounces and
# complaints); unset: the webhook answers 404.
EMAIL_WEBHOOK_SECRET = env.str("EMAIL_WEBHOOK_SECRET", default="")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["advocacy.api_auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["advocacy.api_auth.HasSecretKey"],
    "DEFAULT_PARSER_CLASSES": ["core.api_parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["advocacy.api_auth.ApiKeyRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "core.api_schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Advocacy API",
    "DESCRIPTION": "Enroll advocates, record referred friends and purchases, reverse refunds.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets are served from the project, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CurrencyEnum": "core.api_fields.CURRENCY_ENUM",
        "Currency0DecimalsEnum": "core.api_fields.CURRENCY_0_DECIMALS_ENUM",
        "Currency2DecimalsEnum": "core.api_fields.CURRENCY_2_DECIMALS_ENUM",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api_schema.add_error_responses",
        "core.api_schema.bulk_rows_checked_one_by_one",
    ],
}

# Content-Security-Policy of every HTML page (core/csp.py; docs/deploy.md explains each
# source). Scripts: this site's files, or inline with the request's nonce only.
# Styles likewise: this site's files, or a <style> with the nonce; no style attribute
# (Django's admin templates have none; the allauth pages served have none). Forms post
# here, or to the sign-in and payout providers a sign-in or onboarding form redirects to.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [
            SELF,
            "https://accounts.google.com",
            "https://www.facebook.com",
            "https://connect.stripe.com",
        ],
        # Only this site may frame its pages; the widgets widen it to the program's sites.
        "frame-ancestors": [SELF],
    },
}

# Referral cookie set by /r/<code> on the platform's host (embed.js keeps its own
# first-party "advocacy_ref" cookie on the merchant's domain).
REFERRAL_COOKIE_NAME = "adv_ref"
# The redirect's fast path (see referrals/clicks.py): links cached in process for
# this long; clicks written in batches every CLICK_FLUSH_MS (0: one by one).
LINK_CACHE_SECONDS = env.int("LINK_CACHE_SECONDS", default=5)
# API keys with their program, reward rules, fraud rules and webhook endpoints are kept
# in process this long (core/config_cache.py); 0 reads them on every request.
CONFIG_CACHE_SECONDS = env.float("CONFIG_CACHE_SECONDS", default=5)
CLICK_FLUSH_MS = env.int(
    "CLICK_FLUSH_MS",
    default=50 if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else 0,
)
# Where each web process spools its clicks before the writer inserts them (a local
# disk; files of a killed process are taken over by the others).
CLICK_SPOOL_DIR = env.path("CLICK_SPOOL_DIR", default=str(VAR_DIR / "clicks"))
# The demo shop at /demo-shop/ is served with DEBUG on, or when this is set.
DEMO_SHOP = env.bool("DEMO_SHOP", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"level": "WARNING"}, "stripe": {"level": "WARNING"}},
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])
