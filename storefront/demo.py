"""The demo program that ``make run`` serves, with fixed keys for the README's quickstart."""

DEMO_SLUG = "demo"
DEMO_SECRET_KEY = "sk_demo_0000000000000000000000000000demo"  # noqa: S105 - demo only
DEMO_PUBLISHABLE_KEY = "pk_demo_0000000000000000000000000000demo"
DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_ADMIN_PASSWORD = "demo-admin-pass"  # noqa: S105 - demo only
DEMO_ADVOCATE_CODE = "DEMO2345"
