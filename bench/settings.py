"""Settings for the redirect benchmark: the project's settings plus a ``bare/`` URL.

Everything else (DEBUG, SECRET_KEY, DATABASE_URL, ...) comes from the environment,
exactly as in production; ``bench/redirect.py`` sets it.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
