"""Content-Security-Policy headers: every HTML page, nothing on redirects and JSON."""


def _directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return dict(d.strip().partition(" ")[::2] for d in policy.split(";"))


def test_an_html_page_gets_the_strict_policy_with_its_nonce(client, db):
    response = client.get("/accounts/login/")
    directives = _directives(response)
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'self'"
    assert directives["base-uri"] == "'self'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    # The page's inline script carries the nonce the header names.
    nonce = directives["script-src"].split("'nonce-")[1].rstrip("'")
    assert f'<script nonce="{nonce}">' in response.content.decode()


def test_each_response_has_its_own_nonce(client, db):
    first = _directives(client.get("/accounts/login/"))["script-src"]
    second = _directives(client.get("/accounts/login/"))["script-src"]
    assert first != second


def test_redirects_and_json_carry_no_policy(client, link, api):
    assert "Content-Security-Policy" not in client.get(f"/r/{link.code}")
    assert "Content-Security-Policy" not in api.get("/api/v1/advocates")


def test_the_api_docs_need_no_inline_script(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert "<script>" not in response.content.decode()
    assert "'unsafe-inline'" not in _directives(response)["script-src"]


def test_styles_are_this_sites_files_or_carry_the_nonce(client, db):
    response = client.get("/accounts/login/")
    styles = _directives(response)["style-src"]
    assert "'unsafe-inline'" not in styles
    assert "'unsafe-hashes'" not in styles
    assert styles.startswith("'self'")
