"""Experiments: sticky assignment, holdout, Bayesian probability-to-be-best, promotion.

* **Assignment** is sticky: a subject's arm is drawn once from a hash of
  (experiment, subject), weighted by the variants' weights after the holdout
  share, and stored; later calls return the stored arm (a unique constraint
  settles races).
* **Outcome** per subject, after assignment: for advocate experiments, the
  advocate brought a buyer (an attributed, counted order of theirs); for
  friend experiments, the friend bought (a counted order by their email or
  external id). Holdout subjects get no program; their own purchases against
  those of the treated subjects measure incrementality.
* **Results**: each variant's conversion has a Beta(1 + buyers, 1 + non-buyers)
  posterior; 20,000 Monte Carlo draws (``random.betavariate``, seeded, so a
  page shows stable numbers) give each variant's probability to be best, a
  95 % credible interval and its expected loss.
* **Stopping rule**: stop when every variant has at least ``MIN_SUBJECTS``
  subjects and the leader's probability to be best is at least 95 % with an
  expected loss under 0.1 percentage point.
"""

import hashlib
import random
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from advocacy.audit import audit_log
from advocacy.models import Advocate, AuditAction
from core.config_cache import ConfigCache
from core.money import to_minor
from referrals.models import Conversion

from .models import Assignment, Experiment, Variant

DRAWS = 20_000
MIN_SUBJECTS = 100
P_BEST = 0.95
MAX_LOSS = 0.001


def _bucket(experiment_id: int, subject_key: str) -> float:
    digest = hashlib.sha256(f"{experiment_id}:{subject_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _draw(experiment: Experiment, subject_key: str) -> Variant | None:
    point = _bucket(experiment.pk, subject_key)
    if point < experiment.holdout_percent / 100:
        return None
    variants = list(experiment.variants.order_by("pk"))
    total = sum(v.weight for v in variants)
    if not total:
        return None
    # Rescale the rest of [0, 1) onto the variants by weight.
    at = (point - experiment.holdout_percent / 100) / (1 - experiment.holdout_percent / 100)
    cumulative = 0.0
    for variant in variants:
        cumulative += variant.weight / total
        if at < cumulative:
            return variant
    return variants[-1]


def assignment_get_or_create(
    *, experiment: Experiment, subject_key: str, advocate: Advocate | None = None
) -> Assignment:
    """The subject's arm in a running experiment, drawn at first sight and then fixed."""
    existing = Assignment.objects.filter(experiment=experiment, subject_key=subject_key).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            return Assignment.objects.create(
                experiment=experiment,
                subject_key=subject_key,
                advocate=advocate,
                variant=_draw(experiment, subject_key),
            )
    except IntegrityError:
        return Assignment.objects.get(experiment=experiment, subject_key=subject_key)


def variant_offer(config: dict, currency: str) -> dict:
    """What an offer variant's ``config`` changes, for ``rewards.variants``: a cash reward
    (``"advocate_reward": "15.00"``, program currency) and/or a commission percent
    (``"commission_percent": "12.5"``). Values that are not a number >= 0 are ignored,
    so a typo in the admin never stops a reward."""
    out: dict = {}
    try:
        if "advocate_reward" in config:
            minor = to_minor(str(config["advocate_reward"]), currency)
            if minor >= 0:
                out["advocate_reward_minor"] = minor
    except (InvalidOperation, ValueError, TypeError, ArithmeticError):
        pass
    try:
        if "commission_percent" in config:
            percent = Decimal(str(config["commission_percent"]))
            if 0 <= percent <= 100:
                out["commission_percent"] = percent
    except (InvalidOperation, ValueError, TypeError):
        pass
    return out


_offer_experiments = ConfigCache(
    "offer experiments", invalidated_by=("measurement.Experiment", "measurement.Variant")
)
_copy_experiments = ConfigCache(
    "share copy experiments", invalidated_by=("measurement.Experiment", "measurement.Variant")
)


def _served_experiment(program_id: int, kind: str) -> Experiment | None:
    """The program's advocate experiment of ``kind`` that decides what is served: the
    running one, else the latest stopped one with a promoted winner."""
    return (
        Experiment.objects.filter(
            program_id=program_id,
            kind=kind,
            subject=Experiment.Subject.ADVOCATE,
        )
        .filter(
            Q(status=Experiment.Status.RUNNING)
            | Q(status=Experiment.Status.STOPPED, winner__isnull=False)
        )
        .select_related("winner")
        .order_by(
            Case(When(status=Experiment.Status.RUNNING, then=Value(0)), default=Value(1)),
            "-pk",
        )
        .first()
    )


def variant_share_copy(config: dict) -> dict[str, str]:
    """What a share-copy variant's ``config`` changes, for ``referrals.sharing``:
    ``"share_text"`` (every channel) and/or ``"share_texts": {"whatsapp": ...}`` (per
    channel). Values that are not non-empty text are ignored."""
    out: dict[str, str] = {}
    text = config.get("share_text")
    if isinstance(text, str) and text.strip():
        out[""] = text.strip()
    per_channel = config.get("share_texts")
    if isinstance(per_channel, dict):
        for channel, value in per_channel.items():
            if isinstance(value, str) and value.strip():
                out[str(channel)] = value.strip()
    return out


def advocate_share_copy(*, advocate: Advocate) -> dict[str, str]:
    """The ``referrals.sharing`` provider: the share texts of the advocate's arm in the
    program's running share-copy experiment (assigned at first sight, then fixed), or
    of the promoted winner; the holdout and advocates outside one keep the program's."""
    [experiment] = _copy_experiments.get(
        advocate.program_id,
        lambda: (_served_experiment(advocate.program_id, Experiment.Kind.SHARE_COPY),),
    )
    if experiment is None:
        return {}
    if experiment.status == Experiment.Status.RUNNING:
        variant = assignment_get_or_create(
            experiment=experiment, subject_key=str(advocate.pk), advocate=advocate
        ).variant
    else:
        variant = experiment.winner
    if variant is None:
        return {}
    return variant_share_copy(variant.config)


def advocate_offer(*, advocate: Advocate) -> dict:
    """The ``rewards.variants`` provider: the offer of the advocate's arm.

    In the program's running offer experiment on advocates, the advocate's arm
    (assigned at first sight, then fixed: the portal's first view or their first
    reward, whichever comes first); the holdout keeps the program's own offer.
    Once an experiment is stopped with a winner ("promote the winner"), the
    winner's offer is everyone's until another experiment runs.
    """
    # The running experiment first, else the last one promoted: one query, kept for
    # CONFIG_CACHE_SECONDS (the conversion API reads it on every order).
    [experiment] = _offer_experiments.get(
        advocate.program_id,
        lambda: (_served_experiment(advocate.program_id, Experiment.Kind.OFFER),),
    )
    if experiment is None:
        return {}
    if experiment.status == Experiment.Status.RUNNING:
        variant = assignment_get_or_create(
            experiment=experiment, subject_key=str(advocate.pk), advocate=advocate
        ).variant
    else:
        variant = experiment.winner
    if variant is None:
        return {}
    return variant_offer(variant.config, advocate.program.currency)


def experiment_promote(*, experiment: Experiment, variant: Variant, actor=None) -> Experiment:
    """Stop the experiment with ``variant`` as its winner (audited)."""
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
        experiment.winner = variant
        experiment.status = Experiment.Status.STOPPED
        experiment.save(update_fields=["winner", "status"])
        audit_log(
            action=AuditAction.PROGRAM_UPDATED,
            obj=experiment,
            program=experiment.program,
            actor=actor,
            data={"experiment": experiment.name, "winner": variant.key},
        )
    return experiment


@dataclass
class ArmResult:
    key: str
    name: str
    subjects: int
    converted: int
    rate: float | None  # %
    p_best: float | None  # %
    interval: tuple[float, float] | None  # 95 % credible interval, %
    expected_loss: float | None  # percentage points


def _outcomes(experiment: Experiment) -> dict[int | None, tuple[int, int, int]]:
    """Per variant id (None = holdout): (subjects, converted, bought themselves), each
    counting only orders after the subject's assignment."""
    orders = Conversion.objects.filter(
        program=experiment.program, refunded_minor__lt=F("amount_minor")
    )
    brought: dict[int, list] = {}
    for advocate_id, at in orders.filter(attributed=True).values_list("advocate_id", "occurred_at"):
        brought.setdefault(advocate_id, []).append(at)
    bought: dict[str, list] = {}
    for ext, email, at in orders.values_list(
        "customer_external_id", "customer_email_normalized", "occurred_at"
    ):
        for key in {ext, email} - {""}:
            bought.setdefault(key, []).append(at)
    identities = dict(
        (pk, {ext or "", email} - {""})
        for pk, ext, email in Advocate.objects.filter(program=experiment.program).values_list(
            "pk", "external_id", "email_normalized"
        )
    )
    out: dict[int | None, list[int]] = {}
    for a in experiment.assignments.all():
        stats = out.setdefault(a.variant_id, [0, 0, 0])
        stats[0] += 1
        if experiment.subject == Experiment.Subject.ADVOCATE:
            keys = identities.get(a.advocate_id, set())
            converted = any(t >= a.assigned_at for t in brought.get(a.advocate_id, []))
        else:
            keys = {a.subject_key}
            converted = any(t >= a.assigned_at for t in bought.get(a.subject_key, []))
        own = any(t >= a.assigned_at for k in keys for t in bought.get(k, []))
        stats[1] += int(converted)
        stats[2] += int(own)
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def _pct(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 1) if whole else None


def experiment_results(experiment: Experiment, *, seed: int = 0) -> dict:
    outcomes = _outcomes(experiment)
    variants = list(experiment.variants.order_by("pk"))
    rng = random.Random(f"{experiment.pk}:{seed}")
    none = (0, 0, 0)
    samples = {}
    for v in variants:
        n, s, _own = outcomes.get(v.pk, none)
        samples[v.pk] = [rng.betavariate(1 + s, 1 + n - s) for _ in range(DRAWS)]
    wins = dict.fromkeys(samples, 0)
    loss = dict.fromkeys(samples, 0.0)
    for i in range(DRAWS if samples else 0):
        draws = {k: s[i] for k, s in samples.items()}
        best = max(draws.values())
        wins[max(draws, key=draws.get)] += 1
        for k, d in draws.items():
            loss[k] += best - d
    arms = []
    for v in variants:
        n, s, _own = outcomes.get(v.pk, none)
        ordered = sorted(samples[v.pk])
        arms.append(
            ArmResult(
                key=v.key,
                name=v.name,
                subjects=n,
                converted=s,
                rate=_pct(s, n),
                p_best=round(wins[v.pk] * 100 / DRAWS, 1),
                interval=(
                    round(ordered[int(0.025 * DRAWS)] * 100, 1),
                    round(ordered[int(0.975 * DRAWS) - 1] * 100, 1),
                ),
                expected_loss=round(loss[v.pk] / DRAWS * 100, 2),
            )
        )
    holdout = outcomes.get(None, none)
    treated = [sum(o[i] for k, o in outcomes.items() if k is not None) for i in range(3)]
    leader = max(arms, key=lambda a: a.p_best or 0, default=None)
    enough = bool(arms) and all(a.subjects >= MIN_SUBJECTS for a in arms)
    stop = bool(
        leader
        and enough
        and leader.p_best >= P_BEST * 100
        and leader.expected_loss < MAX_LOSS * 100
    )
    return {
        "arms": arms,
        # Incrementality: the share of subjects who bought themselves, with the
        # program (every variant) and without it (the holdout).
        "incrementality": {
            "treated_subjects": treated[0],
            "treated_purchase_rate": _pct(treated[2], treated[0]),
            "holdout_subjects": holdout[0],
            "holdout_purchase_rate": _pct(holdout[2], holdout[0]),
        },
        "leader": leader.key if leader else None,
        "stop": stop,
        "checked_at": timezone.now(),
    }
