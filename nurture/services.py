"""Writes for nurture: challenges and their moderation, testimonials, feedback,
the advocate's public profile and program news. One transaction each, audited."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Advocate, EmailPreference, Program
from core.errors import ServiceError
from referrals.models import Referral
from rewards.ledger import POINTS_CURRENCY
from rewards.models import Reward
from rewards.perks import perk_grant
from rewards.services import reward_issue

from . import badges
from .emails import email_queue
from .models import (
    Challenge,
    ChallengeSubmission,
    Moderation,
    OutgoingEmail,
    Standing,
    Suggestion,
    SuggestionVote,
    Testimonial,
    Upload,
)

Kind = Challenge.Kind


def upload_create(*, advocate: Advocate, content_type: str, data: bytes) -> Upload:
    """Keep an image the advocate sent (PNG, JPEG, WebP or GIF up to 2 MB)."""
    if content_type not in Upload.TYPES:
        raise ServiceError("bad_image", "Send a PNG, JPEG, WebP or GIF image.")
    if len(data) > Upload.MAX_BYTES:
        raise ServiceError("image_too_large", "The image is larger than 2 MB.")
    return Upload.objects.create(advocate=advocate, content_type=content_type, data=data)


# ----------------------------------------------------------------- challenges


def _referred_since(advocate: Advocate, since) -> int:
    return (
        Referral.objects.filter(advocate=advocate, created_at__gte=since)
        .exclude(status=Referral.Status.REJECTED)
        .count()
    )


def challenge_submit(
    *,
    advocate: Advocate,
    challenge: Challenge,
    proof_url: str = "",
    answer: str = "",
    screenshot: Upload | None = None,
) -> ChallengeSubmission:
    """An advocate's entry for a challenge, checked for what its kind needs.

    A "refer N friends" challenge is verified on the spot and approved at once;
    the others wait for a manager in the moderation queue.
    """
    if challenge.program_id != advocate.program_id:
        raise ServiceError("not_found", "This challenge is not in your program.", status=404)
    if not advocate.can_earn:
        raise ServiceError("advocate_inactive", "Your account can't take part in challenges now.")
    if not challenge.is_open:
        raise ServiceError("challenge_closed", "This challenge is closed.")
    proof_url, answer = proof_url.strip(), answer.strip()
    if challenge.kind in (Kind.REVIEW,) and not (proof_url or screenshot):
        raise ServiceError("proof_required", "Add a link to your review or a screenshot of it.")
    if challenge.kind in (Kind.SHARE, Kind.HASHTAG) and not (proof_url or screenshot):
        raise ServiceError("proof_required", "Add a link to your post or a screenshot of it.")
    if challenge.kind == Kind.SURVEY and not answer:
        raise ServiceError("answer_required", "Please answer the question.")
    if challenge.kind == Kind.CUSTOM and not (proof_url or answer or screenshot):
        raise ServiceError("proof_required", "Tell us what you did, or add a link.")
    if challenge.kind == Kind.REFER:
        done = _referred_since(advocate, challenge.created_at)
        if done < challenge.target_count:
            raise ServiceError(
                "not_yet",
                f"You have referred {done} of {challenge.target_count} friends so far.",
            )
    try:
        with transaction.atomic():
            submission = ChallengeSubmission.objects.create(
                challenge=challenge,
                advocate=advocate,
                proof_url=proof_url,
                answer=answer,
                screenshot=screenshot,
            )
            audit_log(
                action=AuditAction.SUBMISSION_CREATED,
                obj=submission,
                program=challenge.program,
            )
    except IntegrityError:
        raise ServiceError(
            "already_submitted", "You already took part in this challenge."
        ) from None
    if challenge.kind == Kind.REFER:
        submission_approve(submission_id=submission.pk, actor=None)
        submission.refresh_from_db()
    return submission


def submission_approve(*, submission_id: int, actor=None) -> bool:
    """Approve an entry and award its points through the ledger, exactly once."""
    with transaction.atomic():
        submission = (
            ChallengeSubmission.objects.select_for_update()
            .select_related("challenge__program", "advocate")
            .filter(pk=submission_id)
            .first()
        )
        if submission is None or submission.status != Moderation.PENDING:
            return False
        challenge, advocate = submission.challenge, submission.advocate
        submission.status = Moderation.APPROVED
        submission.reviewed_at = timezone.now()
        submission.reviewed_by = actor if getattr(actor, "is_authenticated", False) else None
        if challenge.points:
            submission.reward = reward_issue(
                program=challenge.program,
                advocate=advocate,
                key=f"challenge-submission:{submission.pk}",
                reason=f"Challenge: {challenge.title}"[:200],
                kind=Reward.Kind.POINTS,
                amount_minor=challenge.points,
                currency=POINTS_CURRENCY,
                hold_days=0,
            )
        submission.save(update_fields=["status", "reviewed_at", "reviewed_by", "reward"])
        if challenge.perk_id:
            perk_grant(
                advocate=advocate,
                perk=challenge.perk,
                key=f"challenge-perk:{submission.pk}",
                reason=f"Challenge: {challenge.title}"[:200],
            )
        audit_log(
            action=AuditAction.SUBMISSION_APPROVED,
            obj=submission,
            program=challenge.program,
            actor=actor,
            data={"points": challenge.points},
        )
        badges.streak_check(advocate=advocate)
        email_queue(
            advocate=advocate,
            template="submission_reviewed",
            key=f"submission-reviewed:{submission.pk}",
            params={"approved": True, "challenge": challenge.title, "points": challenge.points},
        )
    return True


def submission_reject(*, submission_id: int, reason: str, actor=None) -> bool:
    """Reject an entry with a reason the advocate reads; they may try again."""
    reason = reason.strip()
    if not reason:
        raise ServiceError("reason_required", "Say why the entry is rejected.")
    with transaction.atomic():
        submission = (
            ChallengeSubmission.objects.select_for_update()
            .select_related("challenge__program", "advocate")
            .filter(pk=submission_id)
            .first()
        )
        if submission is None or submission.status != Moderation.PENDING:
            return False
        submission.status = Moderation.REJECTED
        submission.rejection_reason = reason[:300]
        submission.reviewed_at = timezone.now()
        submission.reviewed_by = actor if getattr(actor, "is_authenticated", False) else None
        submission.save(update_fields=["status", "rejection_reason", "reviewed_at", "reviewed_by"])
        audit_log(
            action=AuditAction.SUBMISSION_REJECTED,
            obj=submission,
            program=submission.challenge.program,
            actor=actor,
            data={"reason": reason[:300]},
        )
        email_queue(
            advocate=submission.advocate,
            template="submission_reviewed",
            key=f"submission-reviewed:{submission.pk}",
            params={"approved": False, "challenge": submission.challenge.title, "reason": reason},
        )
    return True


# ----------------------------------------------------------------- testimonials


def testimonial_submit(
    *,
    advocate: Advocate,
    text: str,
    rating: int,
    consent_to_publish: bool,
    display_name: str = "",
    photo: Upload | None = None,
) -> Testimonial:
    text = text.strip()
    if not text:
        raise ServiceError("text_required", "Please write a few words.")
    if not 1 <= rating <= 5:
        raise ServiceError("bad_rating", "Choose a rating from 1 to 5 stars.")
    with transaction.atomic():
        testimonial = Testimonial.objects.create(
            program=advocate.program,
            advocate=advocate,
            text=text[:2000],
            rating=rating,
            consent_to_publish=consent_to_publish,
            display_name=display_name.strip()[:60],
            photo=photo,
        )
        audit_log(action=AuditAction.TESTIMONIAL_CREATED, obj=testimonial, program=advocate.program)
    return testimonial


def testimonial_moderate(
    *, testimonial_id: int, approve: bool, reason: str = "", actor=None
) -> bool:
    with transaction.atomic():
        testimonial = Testimonial.objects.select_for_update().filter(pk=testimonial_id).first()
        if testimonial is None or testimonial.status != Moderation.PENDING:
            return False
        if not approve and not reason.strip():
            raise ServiceError("reason_required", "Say why the testimonial is rejected.")
        testimonial.status = Moderation.APPROVED if approve else Moderation.REJECTED
        testimonial.rejection_reason = "" if approve else reason.strip()[:300]
        testimonial.reviewed_at = timezone.now()
        testimonial.reviewed_by = actor if getattr(actor, "is_authenticated", False) else None
        testimonial.save(update_fields=["status", "rejection_reason", "reviewed_at", "reviewed_by"])
        audit_log(
            action=AuditAction.TESTIMONIAL_APPROVED
            if approve
            else AuditAction.TESTIMONIAL_REJECTED,
            obj=testimonial,
            program=testimonial.program,
            actor=actor,
        )
    return True


def testimonial_feature(*, testimonial_id: int, featured: bool, actor=None) -> bool:
    """Feature (or stop featuring) an approved testimonial its author let us publish."""
    with transaction.atomic():
        testimonial = Testimonial.objects.select_for_update().filter(pk=testimonial_id).first()
        if testimonial is None or testimonial.featured == featured:
            return False
        if featured and not (
            testimonial.status == Moderation.APPROVED and testimonial.consent_to_publish
        ):
            return False
        testimonial.featured = featured
        testimonial.save(update_fields=["featured"])
        audit_log(
            action=AuditAction.TESTIMONIAL_FEATURED,
            obj=testimonial,
            program=testimonial.program,
            actor=actor,
            data={"featured": featured},
        )
    return True


# ----------------------------------------------------------------- feedback


def suggestion_create(*, advocate: Advocate, title: str, body: str = "") -> Suggestion:
    title = title.strip()
    if not title:
        raise ServiceError("title_required", "Say in a few words what you suggest.")
    with transaction.atomic():
        suggestion = Suggestion.objects.create(
            program=advocate.program, advocate=advocate, title=title[:120], body=body.strip()
        )
        SuggestionVote.objects.create(suggestion=suggestion, advocate=advocate)
        audit_log(action=AuditAction.SUGGESTION_CREATED, obj=suggestion, program=advocate.program)
    return suggestion


def suggestion_vote(*, advocate: Advocate, suggestion: Suggestion) -> bool:
    """One vote per advocate; voting again changes nothing."""
    if suggestion.program_id != advocate.program_id:
        raise ServiceError("not_found", "This suggestion is not in your program.", status=404)
    try:
        with transaction.atomic():
            SuggestionVote.objects.create(suggestion=suggestion, advocate=advocate)
    except IntegrityError:
        return False
    return True


def suggestion_answer(*, suggestion_id: int, status: str, reply: str, actor=None) -> Suggestion:
    """A manager sets the status (planned, done, declined) and replies."""
    if status not in Suggestion.Status.values:
        raise ServiceError("bad_status", f"Unknown status {status!r}.")
    with transaction.atomic():
        suggestion = Suggestion.objects.select_for_update().get(pk=suggestion_id)
        suggestion.status = status
        suggestion.reply = reply.strip()
        suggestion.replied_at = timezone.now() if suggestion.reply else None
        suggestion.replied_by = actor if getattr(actor, "is_authenticated", False) else None
        suggestion.save(update_fields=["status", "reply", "replied_at", "replied_by"])
        audit_log(
            action=AuditAction.SUGGESTION_ANSWERED,
            obj=suggestion,
            program=suggestion.program,
            actor=actor,
            data={"status": status},
        )
    return suggestion


# ----------------------------------------------------------------- profile and news


def profile_update(*, advocate: Advocate, leaderboard_opt_in: bool, display_name: str) -> Standing:
    """The advocate's choice to appear on the leaderboard, under a name they pick."""
    display_name = display_name.strip()[:40]
    if leaderboard_opt_in and not display_name:
        raise ServiceError("name_required", "Choose the name the leaderboard shows.")
    with transaction.atomic():
        standing, _ = Standing.objects.select_for_update().get_or_create(advocate=advocate)
        standing.leaderboard_opt_in = leaderboard_opt_in
        standing.display_name = display_name
        standing.save(update_fields=["leaderboard_opt_in", "display_name"])
        audit_log(
            action=AuditAction.PROFILE_UPDATED,
            obj=standing,
            program=advocate.program,
            data={"leaderboard": leaderboard_opt_in},
        )
    return standing


def news_broadcast(*, program: Program, subject: str, body: str, actor=None) -> int:
    """Queue program news to every active advocate who wants it; returns how many."""
    subject, body = subject.strip(), body.strip()
    if not subject or not body:
        raise ServiceError("news_incomplete", "Write a subject and a message.")
    opted_out = EmailPreference.objects.filter(advocate__program=program).exclude(
        program_news=True, unsubscribed_all_at__isnull=True
    )
    advocates = (
        Advocate.objects.filter(program=program, status=Advocate.Status.ACTIVE)
        .exclude(pk__in=opted_out.values("advocate_id"))
        .order_by("pk")
    )
    stamp = timezone.now().strftime("%Y%m%d%H%M%S")
    count = 0
    with transaction.atomic():
        for advocate in advocates:
            email_queue(
                advocate=advocate,
                template="news",
                key=f"news:{program.pk}:{stamp}:{advocate.pk}",
                params={"subject": subject, "body": body},
            )
            count += 1
        audit_log(
            action=AuditAction.NEWS_SENT,
            obj=program,
            program=program,
            actor=actor,
            data={"subject": subject[:150], "recipients": count},
        )
    return count


# ----------------------------------------------------------------- erasure


def advocate_nurture_erase(*, advocate: Advocate) -> dict:
    """Remove what an advocate wrote, sent or showed in nurture, for an account erasure.

    Testimonials (text, name and photo, possibly published) and every uploaded image
    go. Challenge entries stay, because approved ones paid points through the ledger,
    but without their proof or answer. Suggestions keep their title for the program's
    "you said, we did", without their text. The leaderboard forgets the display
    name, and the emails kept for the admin lose their address and contents.
    """
    testimonials = Testimonial.objects.filter(advocate=advocate).delete()[1]
    testimonials = testimonials.get("nurture.Testimonial", 0)
    entries = ChallengeSubmission.objects.filter(advocate=advocate).update(
        proof_url="", answer="", screenshot=None
    )
    uploads = Upload.objects.filter(advocate=advocate).delete()[1].get("nurture.Upload", 0)
    ideas = Suggestion.objects.filter(advocate=advocate).update(body="")
    Standing.objects.filter(advocate=advocate).update(display_name="", leaderboard_opt_in=False)
    emails = OutgoingEmail.objects.filter(advocate=advocate).update(
        to="", subject="", text="", html="", params={}
    )
    return {
        "testimonials": testimonials,
        "challenge_entries": entries,
        "uploads": uploads,
        "suggestions": ideas,
        "emails": emails,
    }
