"""The engagement pages of the portal: VIP progress, challenges, testimonials, ideas."""

import pytest

from nurture import models as nm
from nurture import services
from tests.portal.helpers import add_referral

pytestmark = pytest.mark.django_db


def test_the_vip_page_shows_the_tier_progress_and_badges(alice_client, program, advocate, tiers):
    add_referral(advocate, "one@example.com")
    from nurture.tiers import standing_recompute

    standing_recompute(advocate=advocate)
    text = alice_client.get(f"/p/{program.slug}/vip/").content.decode()
    assert "On your way to Silver" in text
    assert 'aria-valuenow="50"' in text and "1 more friend to go." in text


def test_the_leaderboard_shows_only_chosen_names(alice_client, program, advocate):
    response = alice_client.post(
        f"/p/{program.slug}/vip/profile/",
        {"leaderboard_opt_in": "on", "display_name": "Ali the Great"},
        follow=True,
    )
    text = response.content.decode()
    assert "Ali the Great" in text and "alice@example.com</span>" not in text.split("board")[1]


def test_a_review_entry_with_a_screenshot_waits_for_review(
    alice_client, program, advocate, review_challenge
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    shot = SimpleUploadedFile("shot.png", b"\x89PNG\r\n\x1a\nxx", content_type="image/png")
    response = alice_client.post(
        f"/p/{program.slug}/challenges/{review_challenge.pk}/enter/",
        {"screenshot": shot},
        follow=True,
    )
    assert "Your entry is waiting for review." in response.content.decode()
    entry = nm.ChallengeSubmission.objects.get()
    assert entry.screenshot.content_type == "image/png" and not entry.proof_url


def test_an_entry_without_proof_says_what_is_missing(
    alice_client, program, advocate, review_challenge
):
    response = alice_client.post(
        f"/p/{program.slug}/challenges/{review_challenge.pk}/enter/", {}, follow=True
    )
    assert "Add a link to your post or review" in response.content.decode()
    assert not nm.ChallengeSubmission.objects.exists()


def test_an_outsider_cannot_enter_a_challenge(charlie_client, program, review_challenge):
    response = charlie_client.post(
        f"/p/{program.slug}/challenges/{review_challenge.pk}/enter/",
        {"proof_url": "https://example.com/r"},
    )
    assert response.status_code == 404
    assert not nm.ChallengeSubmission.objects.exists()


def test_a_testimonial_is_kept_with_its_consent(alice_client, program, advocate):
    alice_client.post(
        f"/p/{program.slug}/testimonial/",
        {"rating": "5", "text": "Lovely shop", "consent": "on", "display_name": "Alice B."},
    )
    t = nm.Testimonial.objects.get()
    assert (t.rating, t.consent_to_publish, t.status, t.display_name) == (
        5, True, "pending", "Alice B."
    )  # fmt: skip


def test_an_idea_gets_a_vote_once_and_the_reply_shows(alice_client, program, advocate):
    alice_client.post(f"/p/{program.slug}/ideas/new/", {"title": "Gift wrapping"})
    idea = nm.Suggestion.objects.get()
    alice_client.post(f"/p/{program.slug}/ideas/{idea.pk}/vote/")
    assert nm.SuggestionVote.objects.filter(suggestion=idea).count() == 1  # the author's own
    services.suggestion_answer(
        suggestion_id=idea.pk, status="done", reply="Gift wrapping is live at checkout."
    )
    text = alice_client.get(f"/p/{program.slug}/ideas/").content.decode()
    said = text[text.index("You said, we did") :]
    assert "Gift wrapping is live at checkout." in said
