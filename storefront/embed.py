"""``/embed.js``: one static file, served with its content hash as ETag and version."""

import hashlib
from functools import lru_cache
from pathlib import Path

EMBED_PATH = Path(__file__).resolve().parent / "static" / "storefront" / "embed.js"


@lru_cache(maxsize=4)
def _load(path: Path, mtime_ns: int) -> tuple[bytes, str]:
    content = path.read_bytes()
    return content, hashlib.sha256(content).hexdigest()[:16]


def embed_script() -> tuple[bytes, str]:
    """The script's bytes and version hash; re-read only when the file changes."""
    return _load(EMBED_PATH, EMBED_PATH.stat().st_mtime_ns)


def embed_version() -> str:
    return embed_script()[1]
