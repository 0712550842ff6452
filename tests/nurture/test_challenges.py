"""Challenges: entries checked per kind, moderated, and approved ones paid in points once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from advocacy.models import AuditAction, AuditLog
from core.errors import ServiceError
from nurture import services
from nurture.models import Badge, Challenge, ChallengeSubmission, OutgoingEmail
from rewards.ledger import balances
from rewards.models import LedgerEntry, Reward
from tests.portal.helpers import add_referral


def points(advocate) -> int:
    p = balances(advocate=advocate)["points"]
    return p["pending"] + p["available"]


def test_a_review_entry_needs_a_proof(advocate, review_challenge):
    with pytest.raises(ServiceError) as exc:
        services.challenge_submit(advocate=advocate, challenge=review_challenge)
    assert exc.value.code == "proof_required"
    assert not ChallengeSubmission.objects.exists()


def test_an_approved_entry_awards_its_points_exactly_once(advocate, review_challenge):
    submission = services.challenge_submit(
        advocate=advocate, challenge=review_challenge,
        proof_url="https://www.trustpilot.com/reviews/123",
    )  # fmt: skip
    assert submission.status == "pending" and points(advocate) == 0
    assert services.submission_approve(submission_id=submission.pk) is True
    assert services.submission_approve(submission_id=submission.pk) is False
    assert points(advocate) == 50
    reward = Reward.objects.get(idempotency_key=f"challenge-submission:{submission.pk}")
    assert LedgerEntry.objects.filter(reward=reward, kind="reward_issued").count() == 1
    submission.refresh_from_db()
    assert submission.status == "approved" and submission.reward == reward
    audit = AuditLog.objects.get(action="nurture.submission_approved")
    # A member of the one AuditAction enum: labelled (and filtered) like every other action.
    assert audit.action == AuditAction.SUBMISSION_APPROVED
    assert audit.get_action_display() == "Challenge entry approved"
    email = OutgoingEmail.objects.get(template="submission_reviewed")
    assert email.params["approved"] is True


def test_a_rejected_entry_says_why_earns_nothing_and_may_be_redone(advocate, review_challenge):
    first = services.challenge_submit(
        advocate=advocate, challenge=review_challenge, proof_url="https://example.com/x"
    )
    with pytest.raises(ServiceError):
        services.challenge_submit(
            advocate=advocate, challenge=review_challenge, proof_url="https://example.com/y"
        )
    with pytest.raises(ServiceError):
        services.submission_reject(submission_id=first.pk, reason=" ")
    assert services.submission_reject(submission_id=first.pk, reason="The link shows no review")
    assert services.submission_approve(submission_id=first.pk) is False
    assert points(advocate) == 0
    first.refresh_from_db()
    assert first.rejection_reason == "The link shows no review"
    again = services.challenge_submit(
        advocate=advocate, challenge=review_challenge, proof_url="https://example.com/z"
    )
    assert again.status == "pending"


def test_a_closed_challenge_takes_no_entries(advocate, review_challenge):
    review_challenge.deadline = timezone.now() - timedelta(minutes=1)
    review_challenge.save()
    with pytest.raises(ServiceError) as exc:
        services.challenge_submit(
            advocate=advocate, challenge=review_challenge, proof_url="https://example.com/r"
        )
    assert exc.value.code == "challenge_closed"


def test_a_refer_challenge_is_checked_and_approved_at_once(advocate, program):
    challenge = Challenge.objects.create(
        program=program, kind="refer", title="Bring 2 friends", points=80, target_count=2
    )
    add_referral(advocate, "one@example.com")
    with pytest.raises(ServiceError) as exc:
        services.challenge_submit(advocate=advocate, challenge=challenge)
    assert exc.value.code == "not_yet"
    add_referral(advocate, "two@example.com")
    submission = services.challenge_submit(advocate=advocate, challenge=challenge)
    assert submission.status == "approved" and points(advocate) == 80


def test_three_approved_challenges_in_a_row_make_a_streak(advocate, program):
    for i in range(3):
        challenge = Challenge.objects.create(
            program=program, kind="survey", title=f"Q{i}", points=5, question="Why?"
        )
        entry = services.challenge_submit(advocate=advocate, challenge=challenge, answer="Yes")
        services.submission_approve(submission_id=entry.pk)
    assert Badge.objects.filter(advocate=advocate, code="challenge_streak").exists()


def test_another_programs_challenge_is_refused(advocate, other_program):
    foreign = Challenge.objects.create(program=other_program[0], kind="custom", title="X")
    with pytest.raises(ServiceError) as exc:
        services.challenge_submit(advocate=advocate, challenge=foreign, answer="done")
    assert exc.value.code == "not_found"
