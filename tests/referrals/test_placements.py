"""Placements on clicks and referrals: through the redirect's spool, into attribution."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from referrals import clicks
from referrals.models import Click, Conversion, Referral
from referrals.placements import placement_clean
from tests.helpers import post_conversion

pytestmark = pytest.mark.usefixtures("click_path")


def _click_id(response) -> str:
    return parse_qs(urlsplit(response["Location"]).query)["click"][0]


def test_a_click_keeps_the_placement_its_link_carried_through_the_spool(client, link):
    click_id = _click_id(client.get(f"/r/{link.code}?p=widget&ch=whatsapp"))
    assert not Click.objects.exists()  # still on disk, in the spool
    assert clicks.buffer.flush() == 1
    click = Click.objects.get()
    assert (str(click.pk), click.placement, click.channel) == (click_id, "widget", "whatsapp")


def test_a_merchants_own_placement_is_kept_and_garbage_dropped(client, link):
    client.get(f"/r/{link.code}?p=Account_Page")
    client.get(f"/r/{link.code}?p=%3Cscript%3E")
    clicks.buffer.flush()
    assert sorted(Click.objects.values_list("placement", flat=True)) == ["", "account_page"]
    assert placement_clean("x" * 41) == ""


def test_a_spool_line_written_before_placements_is_still_written(link, settings):
    row = clicks._decode(json.dumps([str(clicks.new_click_id(link.pk)), link.program_id,
        link.pk, link.advocate_id, "", "", "", "2026-01-01T00:00:00+00:00"]).encode())  # fmt: skip
    clicks.insert_rows([row])
    assert Click.objects.get().placement == ""


def test_a_purchase_after_a_click_carries_the_clicks_placement(client, api, link):
    click_id = _click_id(client.get(f"/r/{link.code}?p=post_purchase"))
    clicks.buffer.flush()
    body = post_conversion(api, click_id=click_id).json()
    assert body["attribution"]["method"] == "click"
    assert body["attribution"]["placement"] == "post_purchase"
    assert Referral.objects.get().placement == "post_purchase"


def test_a_code_picked_by_name_is_attributed_by_name_lookup_and_rewarded(api, link):
    body = post_conversion(api, referral_code=link.code, placement="name_lookup").json()
    assert body["attributed"] is True
    assert body["attribution"]["method"] == "name_lookup"
    assert body["attribution"]["placement"] == "name_lookup"
    assert [r["recipient"] for r in body["rewards"]] == ["advocate"]
    conversion = Conversion.objects.get()
    assert conversion.attribution_method == Conversion.Method.NAME_LOOKUP
    assert conversion.referral.placement == "name_lookup"


def test_a_plain_code_stays_a_referral_code(api, link):
    body = post_conversion(api, referral_code=link.code).json()
    assert (body["attribution"]["method"], body["attribution"]["placement"]) == (
        "referral_code",
        "",
    )


def test_a_clicks_placement_wins_over_the_one_sent(client, api, link):
    click_id = _click_id(client.get(f"/r/{link.code}?p=qr"))
    clicks.buffer.flush()
    body = post_conversion(api, click_id=click_id, placement="name_lookup").json()
    assert (body["attribution"]["method"], body["attribution"]["placement"]) == ("click", "qr")


def test_a_friend_signing_up_after_a_name_lookup_keeps_the_placement(api, link):
    response = api.post(
        "/api/v1/referrals",
        {"referral_code": link.code, "placement": "name_lookup", "friend": {"email": "f@x.com"}},
        format="json",
    )
    assert response.status_code == 201
    assert Referral.objects.get().placement == "name_lookup"


def test_a_known_placement_survives_a_lost_click_row_in_its_id(api, link):
    click_id = clicks.new_click_id(link.pk, placement="email_reminder")  # row never written
    assert clicks.parse_click_id(click_id)[0] == link.pk
    body = post_conversion(api, click_id=str(click_id)).json()
    assert (body["attribution"]["method"], body["attribution"]["placement"]) == (
        "click",
        "email_reminder",
    )
    assert Click.objects.get().placement == "email_reminder"
    assert clicks.click_id_placement(clicks.new_click_id(link.pk, placement="my_own")) == ""


def test_a_spool_line_written_before_referrer_hosts_is_still_written(link, settings):
    line = [str(clicks.new_click_id(link.pk)), link.program_id, link.pk, link.advocate_id,
            "", "", "", "2026-01-01T00:00:00+00:00", "widget"]  # fmt: skip
    clicks.insert_rows([clicks._decode(json.dumps(line).encode())])
    click = Click.objects.get()
    assert (click.placement, click.referrer_host) == ("widget", "")
