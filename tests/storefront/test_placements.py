"""Impressions and shares by placement, and the funnel the measurement app reads."""

import json
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from advocacy.services import advocate_enroll
from referrals import clicks
from referrals.models import Click
from storefront.models import PlacementEvent
from storefront.selectors import placement_funnel
from storefront.signing import event_token, viewer_for_email, widget_params
from tests.helpers import post_conversion


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def _event(client, body, content_type="text/plain", **headers):
    return client.post(
        "/api/v1/placement-events", json.dumps(body), content_type=content_type, **headers
    )


def test_the_widget_counts_an_impression_and_its_buttons_shares(client, program):
    query = urlencode(widget_params(program=program, email="carol@example.com"))
    html = client.get(f"/widget/{program.slug}/?{query}").content.decode()
    impression = PlacementEvent.objects.get()
    assert (impression.kind, impression.placement) == ("impression", "widget")
    assert impression.viewer == viewer_for_email(program=program, email="Carol@example.com")
    assert "carol" not in impression.viewer
    token = json.loads('"' + html.split('var token = "')[1].split('"')[0] + '"')  # escapejs
    assert 'data-share="whatsapp"' in html
    # What the share button sends: text/plain JSON (a simple request), no key.
    assert (
        _event(client, {"token": token, "kind": "share", "channel": "whatsapp"}).status_code == 204
    )
    share = PlacementEvent.objects.get(kind="share")
    assert (share.placement, share.channel, share.advocate_id) == (
        "widget",
        "whatsapp",
        impression.advocate_id,
    )


def test_a_forged_token_or_none_records_nothing(client, program):
    assert _event(client, {"token": "x:y:z", "kind": "share"}).status_code == 403
    assert _event(client, {"kind": "share", "placement": "widget"}).status_code == 401
    assert not PlacementEvent.objects.exists()


def test_a_merchants_own_placement_with_the_publishable_key(program, publishable_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {publishable_key}")
    body = {"kind": "impression", "placement": "Footer_Banner", "visitor": "v-123"}
    assert client.post("/api/v1/placement-events", body, format="json").status_code == 204
    assert client.post("/api/v1/placement-events", body, format="json").status_code == 204
    events = PlacementEvent.objects.all()
    assert {e.placement for e in events} == {"footer_banner"}
    assert len({e.viewer for e in events}) == 1  # the same browser: one unique impression


def test_events_are_rate_bounded_per_viewer(client, program):
    token = event_token(program=program, placement="widget", viewer="e1", advocate_id=None)
    for _ in range(60):
        assert _event(client, {"token": token, "kind": "share"}).status_code == 204
    response = _event(client, {"token": token, "kind": "share"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "rate_limited"
    assert PlacementEvent.objects.count() == 60


@pytest.mark.usefixtures("click_path")
def test_the_funnel_by_placement_counts_each_step_and_its_rate(client, api, program):
    jane, _ = advocate_enroll(program=program, email="jane@example.com", name="Jane Doe")
    code = jane.links.get().code
    token = event_token(
        program=program, placement="post_purchase", viewer="e-jane", advocate_id=None
    )
    other = event_token(
        program=program, placement="post_purchase", viewer="e-olav", advocate_id=None
    )
    for t, kind in [(token, "impression"), (token, "impression"), (other, "impression"),
                    (token, "share"), (token, "share")]:  # fmt: skip
        _event(client, {"token": t, "kind": kind, "channel": "copy"})
    first = client.get(f"/r/{code}?p=post_purchase")["Location"].split("click=")[1]
    client.get(f"/r/{code}?p=post_purchase")
    client.get(f"/r/{code}?p=widget")
    clicks.buffer.flush()
    assert Click.objects.count() == 3
    post_conversion(api, click_id=first, order_id="o-1", customer={"email": "a@example.com"})
    post_conversion(
        api,
        referral_code=code,
        placement="name_lookup",
        order_id="o-2",
        customer={"email": "b@example.com"},
    )
    rows = {r["placement"]: r for r in placement_funnel(program=program)}
    pp = rows["post_purchase"]
    assert (pp["impressions"], pp["unique_impressions"], pp["shares"], pp["sharers"]) == (
        3,
        2,
        2,
        1,
    )
    assert (pp["clicks"], pp["referrals"], pp["purchases"]) == (2, 1, 1)
    assert pp["share_rate"] == 0.5  # 1 sharer ÷ 2 people who saw it
    assert (pp["click_rate"], pp["referral_rate"], pp["purchase_rate"]) == (1.0, 0.5, 1.0)
    assert (rows["widget"]["clicks"], rows["widget"]["share_rate"]) == (1, None)
    lookup = rows["name_lookup"]
    assert (lookup["clicks"], lookup["referrals"], lookup["purchases"]) == (0, 1, 1)
