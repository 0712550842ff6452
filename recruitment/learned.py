"""The learned advocate model per program: who is likely to become an advocate who refers.

* **Outcome** (the label): the customer is linked to an advocate with at least one
  referred friend (not rejected). Every customer of the program is an example; the
  ones who have not referred anyone (yet) are the negatives.
* **Features**: the default score's inputs (``recruitment.scoring``), referral
  history aside since it is the outcome: days since the last order, orders, net
  revenue, the latest NPS answer (and whether there is one), reviews, rating and
  social engagement, log-scaled where they are counts or money.
* **Model**: scikit-learn's logistic regression on standardised features, trained
  on 75 % of the customers (stratified) in Celery (``tasks.train_advocate_model``)
  and judged on the other 25 %: its AUC beside the default score's AUC on the same
  holdout (the default without its referrals part, the outcome), a calibration
  table and the features by weight.
* **Use**: the managers choose the ranking in *Recruitment settings*; the learned
  model ranks only when it beats the default on its holdout, else the default
  ranks and the admin says why. A learned score is the customer's percentile among
  the training customers (0-100, so segments keep working), with reasons.

The fitted model is kept as plain numbers (``AdvocateModel.params``): scoring is a
closed formula and needs no machine-learning library; only training needs
scikit-learn (the optional ``ml`` extra). Without it, training fails with a clear
message and the default score ranks.
"""

import bisect
import copy
import math
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from advocacy.audit import AuditAction, audit_log
from advocacy.models import Program
from core import outbox
from core.errors import ServiceError

from .models import AdvocateModel, Customer, RecruitmentSettings
from .scoring import Signals, score_compute, settings_for, signals_for

MIN_PER_CLASS = 10
HOLDOUT = 0.25
BATCH = 1000
NO_ORDER_DAYS = 1000
MISSING_ML = "scikit-learn is not installed: install the ml extra (uv sync --extra ml)."

FEATURES = [
    ("recency_days", "days since the last order"),
    ("orders", "orders"),
    ("revenue", "net revenue"),
    ("nps", "latest NPS answer"),
    ("nps_answered", "answered NPS"),
    ("reviews", "reviews"),
    ("rating", "review rating"),
    ("social", "social engagement"),
]


def features(*, signals: Signals, currency: str, now: datetime) -> list[float]:
    """One customer's feature vector (in ``FEATURES`` order)."""
    o = signals.orders
    days = max(0, (now - o.last_at).days) if o.last_at else NO_ORDER_DAYS
    return [
        math.log1p(min(days, NO_ORDER_DAYS)),
        math.log1p(o.count),
        math.log1p(max(0, o.revenue.get(currency, 0)) / 100),
        float(signals.nps or 0),
        1.0 if signals.nps is not None else 0.0,
        math.log1p(signals.reviews),
        float(signals.rating or 0),
        math.log1p(signals.social),
    ]


def _explain(name: str, signals: Signals, currency: str, now: datetime) -> str:
    o = signals.orders
    return {
        "recency_days": f"last order {(now - o.last_at).days} days ago"
        if o.last_at
        else "no orders",
        "orders": f"{o.count} orders",
        "revenue": f"{o.revenue.get(currency, 0) / 100:.2f} {currency} spent",
        "nps": f"NPS answer {signals.nps}" if signals.nps is not None else "no NPS answer",
        "nps_answered": "answered NPS" if signals.nps is not None else "no NPS answer",
        "reviews": f"{signals.reviews} reviews",
        "rating": f"rated {signals.rating}/5" if signals.rating else "no rating",
        "social": f"social engagement {signals.social}",
    }[name]


# --- scoring with a trained model (no machine-learning library needed) ------------


@dataclass
class LearnedRanker:
    model: AdvocateModel
    currency: str

    @property
    def name(self) -> str:
        return f"learned-{self.model.pk}"

    def probability_and_parts(self, x: list[float]) -> tuple[float, list[float]]:
        p = self.model.params
        parts = [
            c * (v - m) / s for c, v, m, s in zip(p["coef"], x, p["mean"], p["scale"], strict=True)
        ]
        logit = p["intercept"] + sum(parts)
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, logit)))), parts

    def score(self, *, signals: Signals, now: datetime) -> tuple[int, list[str]]:
        """The percentile (0-100) among the training customers, with its reasons."""
        x = features(signals=signals, currency=self.currency, now=now)
        probability, parts = self.probability_and_parts(x)
        score = min(100, bisect.bisect_left(self.model.params["percentiles"], probability))
        ranked = sorted(zip(FEATURES, parts, strict=True), key=lambda fp: -abs(fp[1]))
        reasons = [
            f"{self.name}: {probability:.0%} likely to refer a friend, "
            f"above {score}% of the program's customers"
        ]
        reasons += [
            f"{name} {part:+.2f}: {_explain(name, signals, self.currency, now)}"
            for (name, _), part in ranked
            if abs(part) >= 0.01
        ]
        return score, reasons


def model_in_use(program: Program) -> AdvocateModel | None:
    """The program's latest ready model, if it beats the default score on its holdout."""
    latest = (
        AdvocateModel.objects.filter(program=program, status=AdvocateModel.Status.READY)
        .order_by("-trained_at", "-pk")
        .first()
    )
    return latest if latest is not None and latest.beats_default else None


def ranker_for(*, program: Program, weights: RecruitmentSettings) -> LearnedRanker | None:
    """The learned ranker when the managers chose it and it beats the default, else None."""
    if weights.ranking != RecruitmentSettings.Ranking.LEARNED:
        return None
    model = model_in_use(program)
    return LearnedRanker(model=model, currency=program.currency) if model else None


def ranking_status(program: Program) -> str:
    """What ranks the program's customers, and why (for the admin)."""
    weights = settings_for(program)
    latest = (
        AdvocateModel.objects.filter(program=program, status=AdvocateModel.Status.READY)
        .order_by("-trained_at", "-pk")
        .first()
    )
    if weights.ranking == RecruitmentSettings.Ranking.DEFAULT:
        if latest is None:
            return "The default score ranks (chosen); no learned model trained."
        return (
            f"The default score ranks (chosen). learned-{latest.pk}: holdout AUC "
            f"{latest.auc:.3f} against the default's {latest.default_auc:.3f}."
        )
    if latest is None:
        return "The learned model was chosen, but none is trained: the default score ranks."
    if not latest.beats_default:
        return (
            f"The default score ranks: learned-{latest.pk}'s holdout AUC {latest.auc:.3f} does "
            f"not beat the default's {latest.default_auc:.3f}."
        )
    return (
        f"learned-{latest.pk} ranks: holdout AUC {latest.auc:.3f} against the default's "
        f"{latest.default_auc:.3f}."
    )


# --- training ------------------------------------------------------------------------


def advocate_model_request(*, program: Program, actor=None) -> AdvocateModel:
    """Queue the training of a new model for the program (it runs in Celery)."""
    from . import tasks

    with transaction.atomic():
        model = AdvocateModel.objects.create(
            program=program,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_log(
            action=AuditAction.ADVOCATE_MODEL_REQUESTED, obj=model, program=program, actor=actor
        )
        outbox.enqueue(tasks.train_advocate_model, model.pk)
    return model


def training_data(program: Program) -> tuple[list[list[float]], list[int], list[float]]:
    """(features, outcomes, default scores) of every customer of the program, paged by pk.

    The default score is computed without its referrals part: referrals are the outcome.
    """
    weights = copy.copy(settings_for(program))
    weights.weight_referrals = 0
    now = timezone.now()
    xs, ys, defaults = [], [], []
    after = 0
    while True:
        customers = list(
            Customer.objects.filter(program=program, pk__gt=after).order_by("pk")[:BATCH]
        )
        if not customers:
            break
        after = customers[-1].pk
        signals = signals_for(program=program, customers=customers)
        for c in customers:
            s = signals[c.pk]
            xs.append(features(signals=s, currency=program.currency, now=now))
            ys.append(1 if s.referrals > 0 else 0)
            score, _ = score_compute(
                signals=s,
                weights=weights,
                currency=program.currency,
                churn_after_days=program.churn_after_days,
                now=now,
            )
            defaults.append(float(score))
    return xs, ys, defaults


def fit(xs, ys, defaults) -> dict:
    """Fit on 75 %, judge on 25 %: the model's numbers and its holdout report."""
    try:
        import numpy as np
        from sklearn.calibration import calibration_curve
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler
    except ImportError as exc:
        raise ServiceError("ml_missing", MISSING_ML) from exc
    positives = sum(ys)
    if positives < MIN_PER_CLASS or len(ys) - positives < MIN_PER_CLASS:
        raise ServiceError(
            "not_enough_outcomes",
            f"Not enough known outcomes: {positives} customers who referred a friend and "
            f"{len(ys) - positives} who did not; at least {MIN_PER_CLASS} of each are needed.",
        )
    x, y, d = np.asarray(xs, dtype=float), np.asarray(ys), np.asarray(defaults)
    x_tr, x_te, y_tr, y_te, _, d_te = train_test_split(
        x, y, d, test_size=HOLDOUT, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(x_tr)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    clf = LogisticRegression(max_iter=1000).fit((x_tr - scaler.mean_) / scale, y_tr)
    p_te = clf.predict_proba((x_te - scaler.mean_) / scale)[:, 1]
    p_tr = clf.predict_proba((x_tr - scaler.mean_) / scale)[:, 1]
    bins = min(5, max(2, int(y_te.sum())))
    observed, predicted = calibration_curve(y_te, p_te, n_bins=bins, strategy="quantile")
    edges = np.quantile(p_te, np.linspace(0, 1, bins + 1))
    counts = np.histogram(p_te, bins=np.unique(edges))[0]
    coef = clf.coef_[0]
    order = np.argsort(-np.abs(coef))
    return {
        "customers": len(ys),
        "positives": int(positives),
        "holdout": len(y_te),
        "auc": float(roc_auc_score(y_te, p_te)),
        "default_auc": float(roc_auc_score(y_te, d_te)),
        "calibration": [
            {"predicted": round(float(p), 4), "observed": round(float(o), 4), "n": int(n)}
            for p, o, n in zip(predicted, observed, counts, strict=False)
        ],
        "top_features": [
            {"feature": FEATURES[i][0], "weight": round(float(coef[i]), 4)} for i in order
        ],
        "params": {
            "features": [name for name, _ in FEATURES],
            "mean": [float(v) for v in scaler.mean_],
            "scale": [float(v) for v in scale],
            "coef": [float(v) for v in coef],
            "intercept": float(clf.intercept_[0]),
            "percentiles": [float(v) for v in np.percentile(p_tr, range(1, 101))],
        },
    }


def advocate_model_train(*, model_id: int) -> str:
    """Train a queued model (Celery); safe to run twice. Returns the final status."""
    from . import tasks

    claimed = AdvocateModel.objects.filter(pk=model_id, status=AdvocateModel.Status.QUEUED).update(
        status=AdvocateModel.Status.TRAINING
    )
    if not claimed:
        return "not-queued"
    model = AdvocateModel.objects.select_related("program").get(pk=model_id)
    program = model.program
    try:
        report = fit(*training_data(program))
    except ServiceError as exc:
        AdvocateModel.objects.filter(pk=model_id).update(
            status=AdvocateModel.Status.FAILED, error=exc.message[:300], trained_at=timezone.now()
        )
        return AdvocateModel.Status.FAILED
    with transaction.atomic():
        AdvocateModel.objects.filter(pk=model_id).update(
            status=AdvocateModel.Status.READY, trained_at=timezone.now(), **report
        )
        if settings_for(program).ranking == RecruitmentSettings.Ranking.LEARNED:
            # The latest model decides what ranks from now on: rescore the program.
            outbox.enqueue(tasks.rescore_customers, program.pk, 0)
    return AdvocateModel.Status.READY
