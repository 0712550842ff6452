"""Benchmark of the referral redirect (``GET /r/<code>``); see README.md. Not a test."""
