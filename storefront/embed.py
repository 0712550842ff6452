"""``/embed.js`` and its lazily loaded part ``/embed-ui.js``: static files served with their
content hash as ETag and version.

``embed.js`` is what every merchant page loads; ``embed-ui.js`` (the post-purchase
prompt and the name lookup) is fetched by it only when a page calls
``Advocacy.postPurchase()`` or ``Advocacy.lookup()``. embed.js names the UI's
versioned URL (``__ADVOCACY_UI__`` in the file), so a new UI changes embed.js's
version too.
"""

import hashlib
from functools import lru_cache
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static" / "storefront"
EMBED_PATH = STATIC / "embed.js"
EMBED_UI_PATH = STATIC / "embed-ui.js"
UI_PLACEHOLDER = b"__ADVOCACY_UI__"


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int, substitute: bytes = b"") -> tuple[bytes, str]:
    content = path.read_bytes()
    if substitute:
        content = content.replace(UI_PLACEHOLDER, substitute)
    return content, hashlib.sha256(content).hexdigest()[:16]


def embed_ui_script() -> tuple[bytes, str]:
    """The prompt's and lookup's script and its version hash."""
    return _load(EMBED_UI_PATH, EMBED_UI_PATH.stat().st_mtime_ns)


def embed_script() -> tuple[bytes, str]:
    """The script's bytes and version hash; re-read only when a file changes."""
    ui_version = embed_ui_script()[1]
    return _load(EMBED_PATH, EMBED_PATH.stat().st_mtime_ns, f"/embed-ui.js?v={ui_version}".encode())


def embed_version() -> str:
    return embed_script()[1]
