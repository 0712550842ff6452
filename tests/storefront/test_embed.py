"""``GET /embed.js``: a small script cached by its content hash."""

import hashlib

from storefront.embed import EMBED_PATH


def _version() -> str:
    return hashlib.sha256(EMBED_PATH.read_bytes()).hexdigest()[:16]


def test_it_serves_the_script_with_an_etag_and_a_short_cache(client):
    response = client.get("/embed.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript; charset=utf-8"
    assert response["ETag"] == f'"{_version()}"'
    assert response["Cache-Control"] == "public, max-age=300"
    assert response.content == EMBED_PATH.read_bytes()
    assert len(response.content) < 8 * 1024  # "one small script"


def test_it_answers_304_when_the_browser_has_this_version(client):
    response = client.get("/embed.js", HTTP_IF_NONE_MATCH=f'"{_version()}"')
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == f'"{_version()}"'
    assert response["Cache-Control"] == "public, max-age=300"


def test_an_old_etag_gets_the_new_script(client):
    response = client.get("/embed.js", HTTP_IF_NONE_MATCH='"0000000000000000"')
    assert response.status_code == 200
    assert response.content == EMBED_PATH.read_bytes()


def test_the_versioned_url_is_immutable(client):
    response = client.get(f"/embed.js?v={_version()}")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"


def test_a_stale_version_is_not_cached_for_long(client):
    """The current script under an old version's URL must not be pinned for a year."""
    response = client.get("/embed.js?v=0123456789abcdef")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"


def test_it_only_answers_reads(client):
    assert client.head("/embed.js").status_code == 200
    assert client.post("/embed.js").status_code == 405
