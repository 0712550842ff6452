"""The events other apps announce to merchants, with their payloads.

Each function is called inside the transaction of the change it announces;
deliveries leave only after that transaction commits.
"""

from advocacy.money import to_decimal_string

from .services import event_emit


def _amount(amount_minor: int, currency: str) -> str:
    return str(amount_minor) if currency == "PTS" else to_decimal_string(amount_minor, currency)


def advocate_enrolled(advocate, link) -> None:
    event_emit(
        program=advocate.program,
        type="advocate.enrolled",
        data={
            "advocate": {
                "id": advocate.pk,
                "email": advocate.email,
                "status": advocate.status,
                "referral_code": link.code,
            }
        },
    )


def referral_created(referral) -> None:
    event_emit(
        program=referral.program,
        type="referral.created",
        data={
            "referral": {
                "id": referral.pk,
                "status": referral.status,
                "advocate_id": referral.advocate_id,
            }
        },
    )


def conversion_attributed(conversion) -> None:
    event_emit(
        program=conversion.program,
        type="conversion.attributed",
        data={
            "conversion": {
                "id": conversion.pk,
                "order_id": conversion.order_id,
                "amount": _amount(conversion.amount_minor, conversion.currency),
                "currency": conversion.currency,
                "advocate_id": conversion.advocate_id,
                "referral_id": conversion.referral_id,
            }
        },
    )


def reward_changed(reward, type: str) -> None:
    event_emit(
        program=reward.program,
        type=type,
        data={
            "reward": {
                "id": reward.pk,
                "advocate_id": reward.advocate_id,
                "kind": reward.kind,
                "amount": _amount(reward.amount_minor, reward.currency or "EUR"),
                "currency": reward.currency,
                "status": reward.status,
                "recipient": reward.recipient,
            }
        },
    )


def payout_paid(payout) -> None:
    event_emit(
        program=payout.program,
        type="payout.paid",
        data={
            "payout": {
                "id": payout.pk,
                "advocate_id": payout.advocate_id,
                "amount": _amount(payout.amount_minor, payout.currency),
                "currency": payout.currency,
                "stripe_transfer_id": payout.stripe_transfer_id,
            }
        },
    )
