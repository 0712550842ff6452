"""Benchmark of the referral redirect (``GET /r/<code>``); see README.md. Not a test."""

# Shared by the server side (bench/urls.py) and the driver (bench/redirect.py).
FLOOR_CODE = "DEMO2345"
FLOOR_REDIS_URL = "redis://127.0.0.1:6379/0"
FLOOR_REDIS_KEY = "advocacy-bench:clicks"
