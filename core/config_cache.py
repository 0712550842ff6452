"""Configuration read on every API call, kept in process memory for a few seconds.

The conversion API reads the same rows on every request: the API key and its
program, the program's reward rules, fraud rules, webhook endpoints. A
``ConfigCache`` keeps what a loader returned for ``CONFIG_CACHE_SECONDS`` (5 by
default; 0 reads the database every time). A save or delete of one of the named
models empties the cache of the process that made it at once; the other web
processes see the change within ``CONFIG_CACHE_SECONDS``. So a revoked key, a
paused program, a deactivated rule or a new webhook endpoint can take up to that
long to apply everywhere (the referral link cache, ``LINK_CACHE_SECONDS``, works
the same way).

Callers get what the loader returned, shared by every request of the process
until it expires: treat it as read-only (``fresh`` copies model instances).
"""

import copy
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save

# Past this many keys a cache starts over (keys are programs or API keys: a bound
# against a flood of distinct keys, not a limit a real deployment meets).
MAX_ENTRIES = 10_000

_all: list["ConfigCache"] = []


class ConfigCache:
    def __init__(self, name: str, *, invalidated_by: Iterable[str] = ()):
        self.name = name
        self._data: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        for label in invalidated_by:  # "app_label.ModelName", resolved lazily
            post_save.connect(self._on_change, sender=label, weak=False)
            post_delete.connect(self._on_change, sender=label, weak=False)
        _all.append(self)

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        ttl = settings.CONFIG_CACHE_SECONDS
        if ttl <= 0:
            return load()
        now = time.monotonic()
        hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        if value is None:
            return None  # not found: looked up again next time (a key created meanwhile)
        with self._lock:
            if len(self._data) >= MAX_ENTRIES:
                self._data.clear()
            self._data[key] = (now + ttl, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def _on_change(self, sender, **kwargs) -> None:
        self.clear()


def fresh(instance):
    """A copy of a cached model instance that a request may change (its related objects'
    cache included): nothing it sets leaks into the next request."""
    clone = copy.copy(instance)
    clone._state = copy.copy(instance._state)
    clone._state.fields_cache = {
        name: fresh(value) if hasattr(value, "_state") else value
        for name, value in instance._state.fields_cache.items()
    }
    return clone


def clear_all() -> None:
    """Empty every configuration cache of this process (tests)."""
    for cache in _all:
        cache.clear()
