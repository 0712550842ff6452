"""The referral loop announces itself to the merchant's webhook endpoint."""

import json

from tests.helpers import post_conversion


def test_the_loop_emits_every_event_once_signed(
    api, endpoint, receiver, verify, link, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/advocates", {"email": "kari@example.com"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        api.post(
            "/api/v1/referrals",
            {"referral_code": link.code, "friend": {"email": "friend@example.com"}},
            format="json",
        )
    with django_capture_on_commit_callbacks(execute=True):
        post_conversion(api, referral_code=link.code)
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/conversions/order-1/refunds", {}, format="json")

    bodies = [json.loads(r.body) for r in receiver.requests]
    assert [b["type"] for b in bodies] == [
        "advocate.enrolled",
        "referral.created",
        "reward.issued",  # the friend's coupon at sign-up
        "conversion.attributed",
        "reward.issued",  # the advocate's cash
        "reward.reversed",  # the refund takes the cash back; the coupon was the sign-up's
    ]
    conversion = bodies[3]["data"]["conversion"]
    assert (conversion["order_id"], conversion["amount"], conversion["advocate_id"]) == (
        "order-1",
        "49.90",
        link.advocate_id,
    )
    assert bodies[4]["data"]["reward"]["amount"] == "10.00"
    for request in receiver.requests:
        assert verify(endpoint.secret, request.headers["Advocacy-Signature"], request.body)
