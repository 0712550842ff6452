"""The snippets in docs/snippets/ are the code the guide shows: they must work as written."""

import importlib.util
import json
import re
import shutil
import subprocess
from decimal import Decimal

import pytest

from referrals.models import Conversion
from rewards.models import Reward
from storefront import demo as demo_keys
from storefront.signing import widget_signature, widget_verify
from tests.conftest import _need

from .conftest import SNIPPETS

GUIDE = SNIPPETS.parent / "integration.md"
SECRET = "ws_Zm9vYmFyYmF6cXV4"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), SNIPPETS / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _node(script: str, *args: str, env: dict | None = None) -> str:
    node = shutil.which("node")
    _need(node is not None, "needs Node.js (apt-get install nodejs)")
    result = subprocess.run(
        [node, "-e", script, *args], capture_output=True, text=True, timeout=30, env=env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


IDENTITIES = [
    ("spring-friends", "kari@example.com", "cust_42", 1767225600, "Kari Nordmann"),
    ("demo", "Jane.Doe+shop@Example.com", "", 1700000000, ""),
    ("demo", "åse@eksempel.no", None, 2000000000, "Åse Ødegård"),
]


@pytest.mark.parametrize(("program", "email", "external_id", "expires", "name"), IDENTITIES)
def test_the_python_and_node_signers_agree_with_the_platform(
    program, email, external_id, expires, name
):
    expected = widget_signature(
        secret=SECRET, program_slug=program, email=email, external_id=external_id,
        expires=expires, name=name,
    )  # fmt: skip
    python = _load("widget_sign.py").widget_signature(
        SECRET, program, email, external_id, expires, name
    )
    node = _node(
        "const w = require(process.argv[1]);"
        "const [secret, program, email, externalId, expires, name] = process.argv.slice(2);"
        "console.log(w.widgetSignature(secret, program, email, externalId, Number(expires),"
        " name));",
        str(SNIPPETS / "widget_sign.js"),
        SECRET,
        program,
        email,
        external_id or "",
        str(expires),
        name,
    )
    assert python == node == expected


def test_the_node_widget_url_verifies(program):
    url = _node(
        "const w = require(process.argv[1]);"
        "console.log(w.widgetUrl('https://p.example', process.argv[2], process.argv[3],"
        " 'kari+x@example.com', 'c 1', 'Kari Nordmann'));",
        str(SNIPPETS / "widget_sign.js"),
        program.slug,
        program.widget_secret,
    )
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    assert parts.path == f"/widget/{program.slug}/"
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert (q["email"], q["external_id"], q["name"]) == (
        "kari+x@example.com",
        "c 1",
        "Kari Nordmann",
    )
    trusted = widget_verify(
        program=program, email=q["email"], external_id=q["external_id"], expires=q["expires"],
        sig=q["sig"], name=q["name"],
    )  # fmt: skip
    assert trusted == "Kari Nordmann"


def test_the_python_conversion_snippet_against_a_live_server(live_server, demo):
    conversion = _load("conversion.py")
    keys = {"platform": live_server.url, "secret_key": demo_keys.DEMO_SECRET_KEY}
    answer = conversion.report_purchase(
        "py-1001", Decimal("49.90"), "EUR", "py.friend@example.com", "DEMO2345", **keys
    )
    assert answer["attributed"] is True
    assert [r["status"] for r in answer["rewards"]] == ["pending"]
    # A retry is answered with the first result, not a second reward.
    again = conversion.report_purchase(
        "py-1001", Decimal("49.90"), "EUR", "py.friend@example.com", "DEMO2345", **keys
    )
    assert again["id"] == answer["id"]

    refunded = conversion.report_refund("py-1001", "r-1", **keys)
    assert refunded["status"] == "refunded"
    assert conversion.report_refund("py-1001", "r-1", **keys)["refund"] == refunded["refund"]
    reward = Reward.objects.get(conversion__order_id="py-1001")
    assert reward.status == Reward.Status.REVERSED


def test_the_node_conversion_snippet_against_a_live_server(live_server, demo):
    script = """
      const c = require(process.argv[1]);
      const options = { platform: process.argv[2], secretKey: process.argv[3] };
      (async () => {
        const sale = await c.reportPurchase({ orderId: "js-1001", amount: "29.00", currency: "EUR",
          email: "js.friend@example.com", referralCode: "DEMO2345" }, options);
        const refund = await c.reportRefund({ orderId: "js-1001", refundId: "1", amount: "9.00" },
          options);
        console.log(JSON.stringify({ sale, refund }));
      })().catch((e) => { console.error(e); process.exit(1); });
    """
    out = json.loads(
        _node(script, str(SNIPPETS / "conversion.js"), live_server.url, demo_keys.DEMO_SECRET_KEY)
    )
    assert out["sale"]["attributed"] is True
    assert (out["refund"]["status"], out["refund"]["refunded"]) == ("partially_refunded", "9.00")
    assert Conversion.objects.get(order_id="js-1001").refunded_minor == 900


def test_the_curl_snippet_against_a_live_server(live_server, demo):
    _need(shutil.which("curl") is not None, "needs curl")
    env = {
        "ADVOCACY_URL": live_server.url,
        "ADVOCACY_SECRET_KEY": demo_keys.DEMO_SECRET_KEY,
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        ["bash", "-e", str(SNIPPETS / "conversion.sh")],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    conversion = Conversion.objects.get(order_id="1001")
    assert conversion.attributed
    assert conversion.refunded_minor == 2000


def test_the_guide_shows_every_snippet_as_it_is():
    guide = GUIDE.read_text(encoding="utf-8")
    shown = dict(re.findall(r"<!-- snippet: (\S+) -->\n```\w*\n(.*?)```", guide, re.S))
    ours = sorted(
        p.name
        for p in SNIPPETS.iterdir()
        if p.is_file() and not p.stem.startswith("verify_webhook")
    )
    assert sorted(shown) == ours
    for name, text in shown.items():
        assert text == (SNIPPETS / name).read_text(encoding="utf-8"), (
            f"{name} in the guide differs from the file"
        )
