"""Stable fingerprints of request bodies: tell a retry from a different request."""

import hashlib
import json


def fingerprint(data: dict) -> str:
    """A stable hash of a request's meaning (keys sorted, values as strings)."""
    canonical = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
