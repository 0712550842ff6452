"""``GET /embed.js``: a small script cached by its content hash."""

import gzip
import hashlib

from storefront.embed import EMBED_PATH, EMBED_UI_PATH


def _ui_version() -> str:
    return hashlib.sha256(EMBED_UI_PATH.read_bytes()).hexdigest()[:16]


def _script() -> bytes:
    """embed.js as served: the file, naming the UI part's versioned URL."""
    return EMBED_PATH.read_bytes().replace(
        b"__ADVOCACY_UI__", f"/embed-ui.js?v={_ui_version()}".encode()
    )


def _version() -> str:
    return hashlib.sha256(_script()).hexdigest()[:16]


def test_it_serves_the_script_with_an_etag_and_a_short_cache(client):
    response = client.get("/embed.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript; charset=utf-8"
    assert response["ETag"] == f'"{_version()}"'
    assert response["Cache-Control"] == "public, max-age=300"
    assert response.content == _script()
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
    assert response.content == _script()


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


# The script every merchant page loads stays small: the prompt and the lookup are
# fetched only by a page that calls them. 2,206 bytes gzipped before they existed.
EMBED_GZIP_BUDGET = 2_600


def test_the_prompt_and_the_lookup_cost_pages_that_do_not_use_them_little(client):
    content = client.get("/embed.js").content
    assert len(gzip.compress(content)) <= EMBED_GZIP_BUDGET
    assert b"postPurchase" in content and b"/embed-ui.js?v=" + _ui_version().encode() in content
    assert b"advocate-lookup" not in content  # the UI's code is not in it


def test_the_ui_part_is_served_under_its_own_version(client):
    response = client.get(f"/embed-ui.js?v={_ui_version()}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.content == EMBED_UI_PATH.read_bytes()
    assert b"/api/v1/post-purchase" in response.content
