"""The recruitment API: bulk customers and orders, the customer profile, NPS, campaigns."""

import pytest
import time_machine

from advocacy.models import AuditLog
from recruitment.models import Customer, NpsResponse
from referrals.models import Conversion
from rewards.models import Reward

from .conftest import customer_row, order_row

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel("2026-07-01 12:00Z", tick=False):
        yield


def test_bulk_upsert_creates_then_updates_and_the_same_batch_twice_creates_nothing(api, program):
    rows = [customer_row(i) for i in range(3)]
    first = api.post("/api/v1/customers/bulk", {"customers": rows}, format="json")
    assert first.status_code == 200, first.content
    assert first.json() == {"created": 3, "updated": 0, "unchanged": 0, "errors": []}
    again = api.post("/api/v1/customers/bulk", {"customers": rows}, format="json")
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 3, "errors": []}
    rows[1]["name"] = "Renamed"
    changed = api.post("/api/v1/customers/bulk", {"customers": rows}, format="json")
    assert changed.json()["updated"] == 1
    assert Customer.objects.filter(program=program).count() == 3
    assert Customer.objects.get(external_id="c-1").name == "Renamed"


def test_a_bad_row_is_reported_by_index_and_changes_nothing(api, program):
    rows = [
        customer_row(0),
        {"external_id": "c-1", "email": "not an email"},
        customer_row(2, review_rating=9),
        "not an object",
        customer_row(0, name="duplicate"),
    ]
    resp = api.post("/api/v1/customers/bulk", {"customers": rows}, format="json")
    body = resp.json()
    assert resp.status_code == 200
    assert body["created"] == 1
    assert [e["index"] for e in body["errors"]] == [1, 2, 3, 4]
    assert body["errors"][0]["error"]["fields"] == {"email": ["Enter a valid email address."]}
    assert "review_rating" in body["errors"][1]["error"]["fields"]
    assert body["errors"][3]["error"]["code"] == "duplicate_in_batch"
    assert list(Customer.objects.values_list("external_id", "name")) == [("c-0", "Customer 0")]


def test_more_than_1000_rows_is_refused_whole(api, program):
    rows = [customer_row(i) for i in range(1001)]
    resp = api.post("/api/v1/customers/bulk", {"customers": rows}, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "validation_error"
    assert not Customer.objects.exists()


def test_publishable_key_is_403_and_no_key_401(publishable_api, client):
    body = {"customers": [customer_row(1)]}
    resp = publishable_api.post("/api/v1/customers/bulk", body, format="json")
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "secret_key_required"
    assert client.get("/api/v1/customers/c-1").status_code == 401
    assert not Customer.objects.exists()


def test_an_outsider_gets_404_for_our_customer_and_campaign(api, outsider_api, program):
    api.post("/api/v1/customers/bulk", {"customers": [customer_row(1)]}, format="json")
    campaign = api.post("/api/v1/campaigns", {"name": "c", "customers": ["c-1"]}, format="json")
    assert outsider_api.get("/api/v1/customers/c-1").status_code == 404
    resp = outsider_api.get(f"/api/v1/campaigns/{campaign.json()['id']}")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "unknown_campaign"


def test_backfilled_orders_are_history_never_attributed_or_rewarded(api, program, link):
    api.post("/api/v1/customers/bulk", {"customers": [customer_row(1)]}, format="json")
    rows = [
        order_row(1, "c-1", referral_code=link.code),
        order_row(2, "c-1", amount="10.50", at="2026-06-20T10:00:00Z"),
        {"order_id": "o-3", "amount": "5.00", "currency": "EUR"},  # no occurred_at
        order_row(4, "c-1", amount="-1.00"),
    ]
    body = {"conversions": rows, "backfill": True}
    resp = api.post("/api/v1/conversions/bulk", body, format="json")
    assert resp.status_code == 200, resp.content
    out = resp.json()
    assert (out["created"], out["existing"]) == (2, 0)
    assert [e["index"] for e in out["errors"]] == [2, 3]
    assert "occurred_at" in out["errors"][0]["error"]["fields"]
    assert set(Conversion.objects.values_list("backfill", "attributed")) == {(True, False)}
    assert not Reward.objects.exists()
    again = api.post("/api/v1/conversions/bulk", body, format="json").json()
    assert (again["created"], again["existing"]) == (0, 2)
    assert Conversion.objects.count() == 2
    dup = [order_row(9, "c-1"), order_row(9, "c-1")]
    out = api.post(
        "/api/v1/conversions/bulk", {"conversions": dup, "backfill": True}, format="json"
    )
    assert out.json()["created"] == 1
    assert out.json()["errors"][0]["error"]["code"] == "duplicate_in_batch"
    assert AuditLog.objects.filter(action="conversion.recorded").count() == 3

    profile = api.get("/api/v1/customers/c-1").json()
    assert profile["orders"] == 3
    assert profile["revenue"] == {"EUR": "60.50"}
    assert profile["first_order_at"].startswith("2026-06-01")
    assert profile["last_order_at"].startswith("2026-06-20")
    assert profile["advocate_score"]["model"] == "default-v1"
    assert 0 < profile["advocate_score"]["score"] <= 100
    assert any("3 orders" in r for r in profile["advocate_score"]["reasons"])


def test_live_bulk_orders_go_through_the_normal_flow_and_are_rewarded(api, program, link):
    rows = [order_row(1, "friend-1", referral_code=link.code, at="2026-06-30T10:00:00Z")]
    resp = api.post("/api/v1/conversions/bulk", {"conversions": rows}, format="json")
    assert resp.json()["created"] == 1
    conversion = Conversion.objects.get()
    assert conversion.attributed and not conversion.backfill
    assert Reward.objects.filter(conversion=conversion).exists()


def test_a_backfilled_order_sent_again_live_is_a_conflict_row(api, program):
    rows = [order_row(1, "c-1")]
    api.post("/api/v1/conversions/bulk", {"conversions": rows, "backfill": True}, format="json")
    live = api.post("/api/v1/conversions/bulk", {"conversions": rows}, format="json").json()
    assert live["errors"][0]["error"]["code"] == "order_conflict"
    assert Conversion.objects.get().backfill


def test_nps_answer_is_categorised_and_kept_on_the_profile(api, program):
    api.post("/api/v1/customers/bulk", {"customers": [customer_row(1)]}, format="json")
    for score, category in [(10, "promoter"), (7, "passive"), (3, "detractor")]:
        resp = api.post(
            "/api/v1/nps", {"customer": {"external_id": "c-1"}, "score": score}, format="json"
        )
        assert resp.status_code == 201
        assert resp.json()["category"] == category
    assert api.get("/api/v1/customers/c-1").json()["nps"] == 3
    detractor = NpsResponse.objects.get(score=3)
    assert detractor.followup_status == NpsResponse.FollowUp.OPEN
    bad = api.post("/api/v1/nps", {"customer": {}, "score": 11}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"customer", "score"}


def test_campaign_for_a_list_reports_unknown_customers_and_its_numbers(
    api, program, mailoutbox, django_capture_on_commit_callbacks
):
    api.post(
        "/api/v1/customers/bulk",
        {"customers": [customer_row(1), customer_row(2, marketing_consent=False)]},
        format="json",
    )
    body = {"name": "Spring", "customers": ["c-1", "c-2", "nobody"]}
    with django_capture_on_commit_callbacks(execute=True):
        resp = api.post("/api/v1/campaigns", body, format="json")
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["recipients"] == 2 and body["unknown_customers"] == ["nobody"]
    numbers = api.get(f"/api/v1/campaigns/{body['id']}").json()
    assert numbers["status"] == "done"
    assert (numbers["sent"], numbers["skipped_no_consent"]) == (1, 1)
    assert len(mailoutbox) == 1


def test_campaign_for_an_unknown_segment_is_404(api, program):
    resp = api.post("/api/v1/campaigns", {"name": "x", "segment": "nope"}, format="json")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "unknown_segment"
