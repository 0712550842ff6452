import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.db.models import Sum

from advocacy.emails import may_email
from advocacy.models import Advocate, AuditLog, EmailPreference
from privacy.services import account_delete
from referrals.models import Click, Conversion, Referral
from rewards.models import LedgerEntry, Payout, PayoutAccount
from tests.portal.helpers import add_click, add_entry, add_purchase, add_referral


def _ledger_sums():
    return dict(
        LedgerEntry.objects.values_list("advocate_id")
        .annotate(total=Sum("amount_minor"))
        .values_list("advocate_id", "total")
    )


@pytest.fixture
def books(alice, advocate, bob_advocate):
    """Alice and Bob both have referrals, purchases, ledger entries and a payout."""
    add_referral(advocate, "friend.one@example.net")
    add_referral(bob_advocate, "friend.two@example.net")
    # Alice herself was once Bob's referred friend, and bought as a customer.
    add_referral(bob_advocate, "Alice@Example.com")
    add_click(advocate)
    add_purchase(advocate, "order-alice-1")
    purchase = add_purchase(bob_advocate, "order-bob-1")
    purchase.customer_email = purchase.customer_email_normalized = "alice@example.com"
    purchase.save(update_fields=["customer_email", "customer_email_normalized"])
    add_entry(advocate, 1500)
    add_entry(advocate, -500)
    add_entry(bob_advocate, 700)
    PayoutAccount.objects.create(advocate=advocate, stripe_account_id="acct_alice")
    Payout.objects.create(
        program=advocate.program,
        advocate=advocate,
        amount_minor=500,
        currency="EUR",
        status=Payout.Status.PAID,
        stripe_account_id="acct_alice",
    )
    return advocate


def test_the_page_asks_to_type_the_email(alice_client):
    response = alice_client.get("/account/delete/")

    assert response.status_code == 200
    body = response.content.decode()
    assert '<label for="id_email">' in body
    assert 'id="id_email"' in body


def test_a_wrong_confirmation_deletes_nothing(alice_client, alice, books):
    response = alice_client.post("/account/delete/", {"email": "bob@example.com"})

    assert response.status_code == 400
    assert "not the email address of your account" in response.content.decode()
    assert User.objects.filter(pk=alice.pk).exists()
    books.refresh_from_db()
    assert books.email == "alice@example.com"


def test_it_needs_a_login(client, db):
    assert client.post("/account/delete/", {"email": "x@example.com"}).status_code == 302


def test_it_erases_the_user_and_keeps_the_books(
    alice_client, alice, books, bob, bob_advocate, program
):
    sums_before = _ledger_sums()
    entries_before = LedgerEntry.objects.count()
    bob_before = Advocate.objects.values().get(pk=bob_advocate.pk)
    link = books.links.get()

    response = alice_client.post("/account/delete/", {"email": "ALICE@example.com"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    # The account and its addresses are gone; the session with it.
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not EmailAddress.objects.filter(email__iexact="alice@example.com").exists()
    assert alice_client.get("/account/data.json").status_code == 302
    # The advocate row stays for the books, with no personal data.
    erased = Advocate.objects.get(pk=books.pk)
    assert erased.email == erased.email_normalized == f"deleted-{books.pk}@invalid"
    assert (erased.name, erased.external_id, erased.locale, erased.user) == ("", None, "", None)
    assert erased.coupon_code is None
    assert erased.status == Advocate.Status.ACTIVE
    assert not erased.links.filter(is_active=True).exists()
    assert not may_email(erased, "invitation")
    assert EmailPreference.objects.get(advocate=erased).unsubscribed_all_at is not None
    # The books balance exactly as before: nothing was updated or deleted.
    assert _ledger_sums() == sums_before
    assert LedgerEntry.objects.count() == entries_before
    assert Payout.objects.get(advocate=erased).amount_minor == 500
    # Kept for accounting: the connected account id is Stripe's, not personal data.
    assert PayoutAccount.objects.get(advocate=erased).stripe_account_id == "acct_alice"
    assert Referral.objects.filter(advocate=erased).count() == 1
    # Alice's address is nowhere any more.
    assert not Advocate.objects.filter(email__icontains="alice").exists()
    assert not Referral.objects.filter(friend_email__icontains="alice").exists()
    assert not Conversion.objects.filter(customer_email__icontains="alice").exists()
    assert not any("alice" in str(row).lower() for row in AuditLog.objects.values("data"))
    [audit] = AuditLog.objects.filter(action="advocate.erased")
    assert audit.object_id == str(books.pk)
    assert audit.data == {
        "user_id": alice.pk,
        "links_deactivated": 1,
        "nurture": {"testimonials": 0, "challenge_entries": 0, "uploads": 0, "suggestions": 0,
                    "emails": 0},
    }  # fmt: skip
    # Bob and his friends are untouched.
    assert Advocate.objects.values().get(pk=bob_advocate.pk) == bob_before
    assert User.objects.filter(pk=bob.pk).exists()
    assert EmailAddress.objects.filter(user=bob).exists()
    friends = set(Referral.objects.values_list("friend_email", flat=True))
    assert {"friend.one@example.net", "friend.two@example.net"} < friends
    assert bob_advocate.links.get().is_active
    assert not link.__class__.objects.get(pk=link.pk).is_active


def test_the_erased_advocates_link_redirects_untracked(alice, books, program, client):
    code = books.links.get().code
    clicks_before = Click.objects.count()

    account_delete(user=alice, actor=alice)
    response = client.get(f"/r/{code}")

    assert response.status_code == 302
    assert response["Location"] == program.landing_url
    assert "Set-Cookie" not in response.headers
    assert Click.objects.count() == clicks_before


def test_a_user_without_advocate_records_is_deleted(charlie_client):
    response = charlie_client.post("/account/delete/", {"email": "charlie@example.com"})

    assert response.status_code == 302
    assert not User.objects.filter(username="charlie").exists()


@pytest.mark.usefixtures("require_postgres")
def test_the_append_only_ledger_trigger_allows_the_erasure(alice, books):
    """On PostgreSQL a trigger refuses any UPDATE/DELETE of a ledger row."""
    sums_before = _ledger_sums()

    account_delete(user=alice, actor=alice)

    assert _ledger_sums() == sums_before


def test_erasure_removes_the_city_and_the_name_lookup(alice, books, program, publishable_key):
    from rest_framework.test import APIClient

    from storefront.services import advocate_findable_set

    books.name = "Alice Wonder"
    books.save(update_fields=["name"])
    advocate_findable_set(advocate=books, findable=True, city="Trondheim", show_city=True)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {publishable_key}")
    found = api.post("/api/v1/advocate-lookup", {"q": "alice"}, format="json").json()
    assert [r.get("city") for r in found["results"]] == ["Trondheim"]

    account_delete(user=alice, actor=alice)

    erased = Advocate.objects.get(pk=books.pk)
    assert (erased.city, erased.findable, erased.findable_show_city) == ("", False, False)
    again = api.post("/api/v1/advocate-lookup", {"q": "alice"}, format="json").json()
    assert again["results"] == []


def test_erasure_removes_what_the_advocate_wrote_and_sent_in_nurture(alice, books, program):
    from core.models import EmailLog
    from nurture.models import (
        Challenge,
        ChallengeSubmission,
        OutgoingEmail,
        Standing,
        Suggestion,
        Testimonial,
        Upload,
    )

    photo = Upload.objects.create(advocate=books, content_type="image/png", data=b"png")
    proof = Upload.objects.create(advocate=books, content_type="image/png", data=b"png")
    Testimonial.objects.create(program=program, advocate=books, text="Alice loves it", rating=5,
                               consent_to_publish=True, display_name="Alice W.", photo=photo,
                               status="approved", featured=True)  # fmt: skip
    challenge = Challenge.objects.create(program=program, kind="review", title="Review us",
                                         points=50)  # fmt: skip
    entry = ChallengeSubmission.objects.create(challenge=challenge, advocate=books,
                                               status="approved", screenshot=proof,
                                               proof_url="https://reviews.example/alice",
                                               answer="I am Alice from Oslo")  # fmt: skip
    idea = Suggestion.objects.create(program=program, advocate=books, title="Gift cards",
                                     body="Call me on +47 555 12 345")  # fmt: skip
    Standing.objects.create(advocate=books, display_name="Alice W.", leaderboard_opt_in=True)
    OutgoingEmail.objects.create(program=program, advocate=books, key="welcome:alice",
                                 template="welcome", params={"name": "Alice"},
                                 to="alice@example.com", subject="Welcome, Alice",
                                 text="Hi Alice", html="<p>Hi Alice</p>")  # fmt: skip
    EmailLog.objects.create(to="Alice@Example.com", kind="welcome", subject="Welcome, Alice",
                            status="sent", program_id=program.pk)  # fmt: skip
    other = EmailLog.objects.create(to="bob@example.com", kind="welcome", status="sent")

    account_delete(user=alice, actor=alice)

    assert not Testimonial.objects.filter(advocate=books).exists()
    assert not Upload.objects.filter(advocate=books).exists()
    entry.refresh_from_db()  # kept: its points are in the ledger
    assert (entry.status, entry.proof_url, entry.answer, entry.screenshot) == (
        "approved", "", "", None,
    )  # fmt: skip
    idea.refresh_from_db()
    assert (idea.title, idea.body) == ("Gift cards", "")
    standing = Standing.objects.get(advocate=books)
    assert (standing.display_name, standing.leaderboard_opt_in) == ("", False)
    email = OutgoingEmail.objects.get(advocate=books)
    assert (email.to, email.subject, email.text, email.html, email.params) == ("", "", "", "", {})
    assert list(EmailLog.objects.exclude(pk=other.pk).values_list("to", flat=True)) == [
        "erased@invalid"
    ]
    assert EmailLog.objects.get(pk=other.pk).to == "bob@example.com"
    audit = AuditLog.objects.get(action="advocate.erased", object_id=str(books.pk))
    assert audit.data["nurture"]["testimonials"] == 1
    assert "Alice" not in str(audit.data)
