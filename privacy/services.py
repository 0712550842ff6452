"""Privacy use cases: export an account, erase it, and honour email opt-outs."""

from allauth.account.models import EmailAddress
from django.db import transaction
from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.emails import ERASED_DOMAIN, erased_email
from advocacy.models import Advocate, EmailPreference
from core.models import EmailLog
from core.normalize import mask_email, normalize_email
from nurture.services import advocate_nurture_erase
from referrals.models import Conversion, Referral, ReferralLink
from rewards.models import Reward

# --- export -----------------------------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def account_export(user) -> dict:
    """Everything we hold about ``user`` and their advocate records, as JSON-ready data.

    A fixed number of queries whatever the number of programs or rows: one for
    the advocates and one per prefetched relation.
    """
    advocates = (
        Advocate.objects.filter(user=user)
        .select_related("program")
        .annotate(clicks_count=Count("clicks"))
        .prefetch_related(
            Prefetch("links", queryset=ReferralLink.objects.order_by("created_at", "pk")),
            Prefetch("referrals", queryset=Referral.objects.order_by("created_at", "pk")),
            Prefetch(
                "conversions",
                queryset=Conversion.objects.filter(attributed=True).order_by("occurred_at", "pk"),
            ),
            Prefetch(
                "rewards",
                # Friend rewards (the friend's coupon) are the friend's data, not the advocate's.
                queryset=Reward.objects.filter(recipient=Reward.Recipient.ADVOCATE).order_by(
                    "created_at", "pk"
                ),
            ),
            "ledger_entries",
            "redemptions__item",
            "payouts",
        )
        .order_by("program__name", "pk")
    )
    return {
        "exported_at": timezone.now().isoformat(),
        "account": {
            "username": user.get_username(),
            "email": user.email,
            "date_joined": _iso(user.date_joined),
        },
        "advocates": [_advocate_export(a) for a in advocates],
    }


def _advocate_export(advocate: Advocate) -> dict:
    return {
        "program": {"slug": advocate.program.slug, "name": advocate.program.name},
        "email": advocate.email,
        "name": advocate.name,
        "external_id": advocate.external_id,
        "locale": advocate.locale,
        "city": advocate.city,
        "findable": advocate.findable,
        "findable_show_city": advocate.findable_show_city,
        "status": advocate.status,
        "coupon_code": advocate.coupon_code,
        "joined_at": _iso(advocate.created_at),
        "referral_codes": [
            {"code": link.code, "channel": link.channel, "active": link.is_active}
            for link in advocate.links.all()
        ],
        "clicks_count": advocate.clicks_count,
        # Friends are other people: their addresses are masked and their names left out.
        "referrals": [
            {
                "friend_email": mask_email(r.friend_email),
                "status": r.status,
                "created_at": _iso(r.created_at),
                "converted_at": _iso(r.converted_at),
            }
            for r in advocate.referrals.all()
        ],
        "conversions": [
            {
                "order_id": c.order_id,
                "amount_minor": c.amount_minor,
                "refunded_minor": c.refunded_minor,
                "currency": c.currency,
                "status": c.status,
                "occurred_at": _iso(c.occurred_at),
            }
            for c in advocate.conversions.all()
        ],
        "rewards": [
            {
                "kind": r.kind,
                "amount_minor": r.amount_minor,
                "reversed_minor": r.reversed_minor,
                "currency": r.currency,
                "status": r.status,
                "reason": r.reason,
                "coupon_code": r.coupon_code,
                "available_at": _iso(r.available_at),
                "created_at": _iso(r.created_at),
            }
            for r in advocate.rewards.all()
        ],
        "ledger_entries": [
            {
                "kind": e.kind,
                "bucket": e.bucket,
                "amount_minor": e.amount_minor,
                "currency": e.currency,
                "memo": e.memo,
                "created_at": _iso(e.created_at),
            }
            for e in sorted(advocate.ledger_entries.all(), key=lambda e: (e.created_at, e.pk))
        ],
        "redemptions": [
            {
                "item": r.item.name,
                "points": r.points,
                "status": r.status,
                "coupon_code": r.coupon_code,
                "created_at": _iso(r.created_at),
            }
            for r in sorted(advocate.redemptions.all(), key=lambda r: (r.created_at, r.pk))
        ],
        "payouts": [
            {
                "amount_minor": p.amount_minor,
                "currency": p.currency,
                "status": p.status,
                "created_at": _iso(p.created_at),
                "sent_at": _iso(p.sent_at),
            }
            for p in sorted(advocate.payouts.all(), key=lambda p: (p.created_at, p.pk))
        ],
    }


# --- deletion ---------------------------------------------------------------


def account_delete(*, user, actor) -> list[int]:
    """Erase ``user``'s personal data, keep the books, delete the account; the erased ids."""
    with transaction.atomic():
        # Locked so a concurrent enrolment or profile edit cannot write the
        # address back between the erasure and the user's deletion.
        advocates = list(
            Advocate.objects.select_for_update().select_related("program").filter(user=user)
        )
        addresses = list(EmailAddress.objects.filter(user=user).values_list("email", flat=True))
        emails = {
            normalize_email(e) for e in [user.email, *addresses, *(a.email for a in advocates)]
        } - {""}
        # As written on emails sent (the log keeps addresses as given).
        raw_addresses = {e.strip() for e in [user.email, *addresses, *(a.email for a in advocates)]}
        user_id = user.pk
        for advocate in advocates:
            links = ReferralLink.objects.filter(advocate=advocate).update(is_active=False)
            advocate.email = advocate.email_normalized = erased_email(advocate)
            advocate.name = ""
            advocate.external_id = None
            advocate.locale = ""
            # Nobody may find an erased advocate by name at checkout, nor read their city.
            advocate.city = ""
            advocate.findable = advocate.findable_show_city = False
            advocate.user = None
            # The coupon code is the link code: it would keep attributing purchases.
            advocate.coupon_code = None
            advocate.save(
                update_fields=[
                    "email",
                    "email_normalized",
                    "name",
                    "external_id",
                    "locale",
                    "city",
                    "findable",
                    "findable_show_city",
                    "user",
                    "coupon_code",
                ]
            )
            EmailPreference.objects.update_or_create(
                advocate=advocate, defaults={"unsubscribed_all_at": timezone.now()}
            )
            nurture = advocate_nurture_erase(advocate=advocate)
            # No personal data in the audit row: ids and counts only.
            audit_log(
                action=AuditAction.ADVOCATE_ERASED,
                obj=advocate,
                program=advocate.program,
                actor=actor,
                data={"user_id": user_id, "links_deactivated": links, "nurture": nurture},
            )
        # The user may also have been someone's referred friend or a customer:
        # those rows stay (the other advocate's books) without the address.
        for referral in Referral.objects.select_for_update().filter(
            friend_email_normalized__in=emails
        ):
            referral.friend_email = referral.friend_email_normalized = (
                f"deleted-referral-{referral.pk}@{ERASED_DOMAIN}"
            )
            referral.friend_name = ""
            referral.save(update_fields=["friend_email", "friend_email_normalized", "friend_name"])
        Conversion.objects.filter(customer_email_normalized__in=emails).update(
            customer_email="", customer_email_normalized=""
        )
        # The log of emails sent keeps that they were sent, not to whom.
        sent_to = Q(pk__in=[])
        for address in raw_addresses - {""}:
            sent_to |= Q(to__iexact=address)
        EmailLog.objects.filter(sent_to).update(to=f"erased@{ERASED_DOMAIN}")
        EmailAddress.objects.filter(user=user).delete()
        user.delete()
    return [a.pk for a in advocates]
