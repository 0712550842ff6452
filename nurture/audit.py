"""Audit rows for nurture's state changes, beside advocacy's own (same table).

The actions are dotted strings under ``nurture.``; ``advocacy.audit`` keeps its
closed list for the layers below.
"""

from advocacy.models import AuditLog


class NurtureAction:
    TIER_CHANGED = "nurture.tier_changed"
    SUBMISSION_CREATED = "nurture.submission_created"
    SUBMISSION_APPROVED = "nurture.submission_approved"
    SUBMISSION_REJECTED = "nurture.submission_rejected"
    TESTIMONIAL_CREATED = "nurture.testimonial_created"
    TESTIMONIAL_APPROVED = "nurture.testimonial_approved"
    TESTIMONIAL_REJECTED = "nurture.testimonial_rejected"
    TESTIMONIAL_FEATURED = "nurture.testimonial_featured"
    BADGE_AWARDED = "nurture.badge_awarded"
    SUGGESTION_CREATED = "nurture.suggestion_created"
    SUGGESTION_ANSWERED = "nurture.suggestion_answered"
    NEWS_SENT = "nurture.news_sent"
    PROFILE_UPDATED = "nurture.profile_updated"


def nurture_audit(*, action: str, obj, program=None, actor=None, data: dict | None = None):
    """Record a state change; call inside the transaction that makes the change."""
    return AuditLog.objects.create(
        program=program,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        data=data or {},
    )
