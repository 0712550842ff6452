"""The API lists (cursor pages, filters) and acts (approve, void, re-attribute), each
scoped to the key's program: an outsider's key finds nothing, a publishable key may not."""

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from advocacy.models import AuditLog
from referrals.models import Conversion
from rewards.ledger import balances
from rewards.models import Reward
from tests.factories import enroll
from tests.helpers import post_conversion

LISTS = ["/api/v1/advocates", "/api/v1/referrals", "/api/v1/conversions", "/api/v1/rewards"]


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def outsider(other_program):
    return _client(other_program[1])


@pytest.fixture
def browser(publishable_key):
    return _client(publishable_key)


def _orders(api, program, n: int, start: int = 0):
    for i in range(start, start + n):
        adv = enroll(program, f"adv{i}@example.com")
        post_conversion(api, order_id=f"o-{i}", referral_code=adv.links.get().code,
                        customer={"email": f"friend{i}@example.com"})  # fmt: skip


@pytest.mark.parametrize("path", LISTS)
def test_a_list_is_paged_by_cursor(api, program, path):
    _orders(api, program, 3)
    first = api.get(f"{path}?limit=2")
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"results", "next"} and len(body["results"]) == 2
    second = api.get(body["next"]).json()
    ids = [r["id"] for r in body["results"]] + [r["id"] for r in second["results"]]
    assert len(ids) == len(set(ids))
    assert second["next"] is None or len(second["results"]) == 2


@pytest.mark.parametrize("path", LISTS)
def test_a_list_reads_a_fixed_number_of_queries(api, program, path):
    _orders(api, program, 2)
    with CaptureQueriesContext(connection) as few:
        assert api.get(path).status_code == 200
    _orders(api, program, 6, start=2)
    with CaptureQueriesContext(connection) as many:
        assert len(api.get(path).json()["results"]) >= 8
    assert len(many) == len(few)


@pytest.mark.parametrize("path", LISTS)
def test_an_outsiders_key_sees_none_of_the_programs_rows(api, program, outsider, path):
    _orders(api, program, 2)
    assert outsider.get(path).json() == {"results": [], "next": None}


@pytest.mark.parametrize("path", LISTS)
def test_an_outsider_filtering_by_the_programs_advocate_gets_404(outsider, advocate, path):
    response = outsider.get(f"{path}?advocate_id={advocate.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "advocate_not_found"


@pytest.mark.parametrize("path", LISTS)
def test_a_publishable_key_may_not_list(browser, path):
    response = browser.get(path)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "secret_key_required"


def test_the_limit_is_capped_and_bad_filters_are_400(api, program):
    _orders(api, program, 1)
    assert api.get("/api/v1/conversions?limit=100000").status_code == 200
    bad = api.get("/api/v1/rewards?status=nonsense")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    assert api.get("/api/v1/rewards?created_after=yesterday").status_code == 400


@pytest.mark.parametrize("limit", ["0", "-1", "1.5", "2e3", "ten", "", "٣", "2&limit=3"])
def test_a_limit_that_is_not_one_whole_number_from_1_is_400(api, program, limit):
    response = api.get(f"/api/v1/conversions?limit={limit}")
    assert response.status_code == 400
    assert "limit" in response.json()["error"]["fields"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "advocate_id", ["0", "-1", "5.0", " 5", "1e3", "٣", "ten", str(2**63), "1" + "0" * 51]
)
def test_an_advocate_id_that_is_not_a_key_is_400(api, program, path, advocate_id):
    response = api.get(path, {"advocate_id": advocate_id})
    assert response.status_code == 400
    assert "advocate_id" in response.json()["error"]["fields"]


@pytest.mark.parametrize("path", LISTS)
def test_the_largest_advocate_id_is_a_key_that_is_not_found(api, program, path):
    assert api.get(path, {"advocate_id": str(2**63 - 1)}).status_code == 404


@pytest.mark.parametrize(
    "created_before", ["2116-12-16T04:48:27-21:08", "2030-01-01T00:00:00+23:59"]
)
def test_a_time_with_any_rfc_3339_offset_filters(api, program, created_before):
    _orders(api, program, 1)
    response = api.get("/api/v1/conversions", {"created_before": created_before})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_a_time_that_leaves_the_calendar_in_utc_is_400(api, program):
    response = api.get("/api/v1/conversions", {"created_after": "9999-12-31T23:00:00-05:00"})
    assert response.status_code == 400
    assert "created_after" in response.json()["error"]["fields"]


@pytest.mark.parametrize("attributed", ["yes", "1", "True", "\u0089"])
def test_attributed_is_true_or_false_only(api, program, attributed):
    response = api.get("/api/v1/conversions", {"attributed": attributed})
    assert response.status_code == 400
    assert "attributed" in response.json()["error"]["fields"]


def test_lists_filter_by_status_advocate_and_dates(api, program, link, advocate):
    with time_machine.travel("2026-10-01T12:00:00Z", tick=False):
        post_conversion(api, referral_code=link.code)
    with time_machine.travel("2026-11-01T12:00:00Z", tick=False):
        post_conversion(api, order_id="o-2", customer={"email": "nobody@example.com"})

    def orders(q):
        return [c["order_id"] for c in api.get(f"/api/v1/conversions?{q}").json()["results"]]

    assert orders("created_after=2026-10-15") == ["o-2"]
    assert orders("created_before=2026-10-15T00:00:00Z") == ["order-1"]
    assert orders(f"advocate_id={advocate.pk}") == ["order-1"]
    assert orders("attributed=false") == ["o-2"]
    rewards = api.get(f"/api/v1/rewards?advocate_id={advocate.pk}&status=pending").json()
    assert [r["kind"] for r in rewards["results"]] == ["cash"]
    advocates = api.get("/api/v1/advocates?status=active").json()["results"]
    assert [a["email"] for a in advocates] == ["alice@example.com"]
    assert advocates[0]["referral_code"] == link.code


def test_the_same_path_still_enrolls_and_records(api):
    assert (
        api.post("/api/v1/advocates", {"email": "new@example.com"}, format="json").status_code
        == 201
    )
    assert post_conversion(api).status_code == 201


def test_a_reward_awaiting_approval_has_its_own_status_until_approved(api, program, link):
    program.reward_rules.filter(kind="cash").update(approval_above_minor=500)
    answer = post_conversion(api, referral_code=link.code).json()
    cash = next(r for r in answer["rewards"] if r["kind"] == "cash")
    assert (cash["status"], cash["available_at"]) == ("awaiting_approval", None)
    listed = api.get("/api/v1/rewards?status=awaiting_approval").json()["results"]
    assert [r["id"] for r in listed] == [cash["id"]]
    assert api.get("/api/v1/rewards?status=pending").json()["results"] == []

    approved = api.post(f"/api/v1/rewards/{cash['id']}/approve")
    assert approved.status_code == 200
    assert approved.json()["status"] == "pending" and approved.json()["available_at"]
    assert api.post(f"/api/v1/rewards/{cash['id']}/approve").status_code == 200  # again: same
    assert AuditLog.objects.filter(action="reward.approved").count() == 1


def test_approving_a_reward_that_needs_no_approval_is_a_conflict(api, link):
    post_conversion(api, referral_code=link.code)
    reward = Reward.objects.get(kind="cash")
    response = api.post(f"/api/v1/rewards/{reward.pk}/approve")
    assert response.status_code == 409


def test_a_reward_is_voided_with_a_reason_once(api, link, advocate):
    post_conversion(api, referral_code=link.code)
    reward = Reward.objects.get(kind="cash")
    assert api.post(f"/api/v1/rewards/{reward.pk}/void", {}, format="json").status_code == 400
    for _ in range(2):
        response = api.post(f"/api/v1/rewards/{reward.pk}/void", {"reason": "fraud"}, format="json")
        assert response.status_code == 200 and response.json()["status"] == "reversed"
    assert balances(advocate=advocate)["cash"]["EUR"]["pending"] == 0
    assert reward.entries.filter(kind="reward_reversed").count() == 1


@pytest.mark.parametrize("action", ["approve", "void"])
def test_another_programs_reward_is_not_found_and_a_publishable_key_is_refused(
    api, link, outsider, browser, action
):
    post_conversion(api, referral_code=link.code)
    reward = Reward.objects.get(kind="cash")
    body = {"reason": "x"}
    assert (
        outsider.post(f"/api/v1/rewards/{reward.pk}/{action}", body, format="json").status_code
        == 404
    )
    assert (
        browser.post(f"/api/v1/rewards/{reward.pk}/{action}", body, format="json").status_code
        == 403
    )
    reward.refresh_from_db()
    assert reward.status == "pending" and reward.approved_at is None


def test_an_order_is_attributed_by_a_manager_and_the_rules_run_again(api, program, link, advocate):
    post_conversion(api, customer={"email": "walkin@example.com"})  # not attributed
    carol = enroll(program, "carol@example.com")
    url = "/api/v1/conversions/order-1/attribution"
    response = api.post(url, {"referral_code": carol.links.get().code, "reason": "in store"},
                        format="json")  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["attributed"] and body["advocate_id"] == carol.pk
    assert body["attribution"]["method"] == "manual"
    assert [r["kind"] for r in body["rewards"]] == ["cash"]
    assert balances(advocate=carol)["cash"]["EUR"]["pending"] == 1000
    moved = api.post(url, {"advocate_id": advocate.pk, "reason": "really Alice"}, format="json")
    assert moved.status_code == 200
    assert balances(advocate=carol)["cash"]["EUR"]["pending"] == 0
    assert balances(advocate=advocate)["cash"]["EUR"]["pending"] == 1000
    assert AuditLog.objects.filter(action="conversion.attribution_overridden").count() == 2
    again = api.post(url, {"advocate_id": advocate.pk, "reason": "really Alice"}, format="json")
    assert again.status_code == 200
    assert Reward.objects.filter(conversion__order_id="order-1").count() == 2


def test_attribution_input_is_checked_and_scoped(
    api, program, link, outsider, browser, other_program
):
    post_conversion(api)
    url = "/api/v1/conversions/order-1/attribution"
    assert api.post(url, {"reason": "x"}, format="json").status_code == 400
    assert api.post(url, {"advocate_id": 1, "referral_code": "X", "reason": "x"},
                    format="json").status_code == 400  # fmt: skip
    stranger = enroll(other_program[0], "stranger@example.org")
    assert (
        api.post(url, {"advocate_id": stranger.pk, "reason": "x"}, format="json").status_code == 404
    )
    body = {"referral_code": link.code, "reason": "x"}
    assert outsider.post(url, body, format="json").status_code == 404
    assert browser.post(url, body, format="json").status_code == 403
    assert api.post("/api/v1/conversions/nope/attribution", body, format="json").status_code == 404
    assert not Conversion.objects.get().attributed


def test_the_schema_documents_the_lists_and_actions(client):
    schema = client.get("/api/schema/").content.decode()
    for path in ["/api/v1/rewards:", "/api/v1/rewards/{reward_id}/approve:",
                 "/api/v1/rewards/{reward_id}/void:",
                 "/api/v1/conversions/{order_id}/attribution:", "PaginatedRewardList"]:  # fmt: skip
        assert path in schema
