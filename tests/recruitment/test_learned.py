"""The learned advocate model: trained in Celery on known outcomes, judged on a holdout
against the default score, used only when chosen and better; works without sklearn."""

import sys

import pytest
from django.urls import reverse

from advocacy.models import AuditAction, AuditLog
from recruitment import demo, learned, scoring
from recruitment.models import AdvocateModel, Customer, RecruitmentSettings
from tests.recruitment.test_admin import staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(program):
    """The demo's history: 400 customers, some of whom became advocates who referred."""
    demo.seed(program=program, customers=400)
    return program


def test_the_demo_trains_a_model_with_its_holdout_report(seeded):
    model = AdvocateModel.objects.get(program=seeded)
    assert model.status == AdvocateModel.Status.READY, model.error
    assert model.customers == 402
    assert model.positives >= learned.MIN_PER_CLASS
    assert model.holdout == round(402 * learned.HOLDOUT) or model.holdout == 101
    # Loyal, happy customers became the advocates who referred: both scores see it.
    assert 0.6 < model.auc <= 1
    assert 0.5 < model.default_auc <= 1
    assert sum(b["n"] for b in model.calibration) == model.holdout
    assert {f["feature"] for f in model.top_features} == {n for n, _ in learned.FEATURES}
    assert len(model.params["percentiles"]) == 100


def test_the_learned_score_is_the_fitted_regression(seeded):
    """The closed formula on stored numbers gives scikit-learn's probabilities."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = AdvocateModel.objects.get(program=seeded)
    ranker = learned.LearnedRanker(model=model, currency=seeded.currency)
    xs, _, _ = learned.training_data(seeded)
    p = model.params
    clf = LogisticRegression()
    clf.classes_ = np.asarray([0, 1])
    clf.coef_ = np.asarray([p["coef"]])
    clf.intercept_ = np.asarray([p["intercept"]])
    standardised = (np.asarray(xs[:50]) - p["mean"]) / p["scale"]
    expected = clf.predict_proba(standardised)[:, 1]
    for x, want in zip(xs[:50], expected, strict=True):
        assert ranker.probability_and_parts(x)[0] == pytest.approx(want, rel=1e-9)


def _rescored_models(program) -> set[str]:
    ids = list(Customer.objects.filter(program=program).values_list("pk", flat=True))
    scoring.customers_rescore(program=program, customer_ids=ids)
    return set(Customer.objects.filter(program=program).values_list("score_model", flat=True))


def test_the_learned_model_ranks_only_when_chosen_and_better_on_the_holdout(seeded):
    model = AdvocateModel.objects.get(program=seeded)
    name = f"learned-{model.pk}"
    assert _rescored_models(seeded) == {scoring.MODEL_NAME}  # the default is chosen

    RecruitmentSettings.objects.filter(program=seeded).update(ranking="learned")
    AdvocateModel.objects.filter(pk=model.pk).update(auc=0.8, default_auc=0.7)
    assert _rescored_models(seeded) == {name}
    top = Customer.objects.filter(program=seeded).order_by("-score").first()
    assert top.score_reasons[0].startswith(f"{name}: ")
    assert "learned-" in learned.ranking_status(seeded) and "ranks" in learned.ranking_status(
        seeded
    )

    AdvocateModel.objects.filter(pk=model.pk).update(auc=0.7, default_auc=0.7)
    assert _rescored_models(seeded) == {scoring.MODEL_NAME}
    assert learned.ranking_status(seeded).startswith("The default score ranks: ")


def test_learned_scores_order_customers_by_their_probability(seeded):
    model = AdvocateModel.objects.get(program=seeded)
    RecruitmentSettings.objects.filter(program=seeded).update(ranking="learned")
    AdvocateModel.objects.filter(pk=model.pk).update(auc=0.9, default_auc=0.1)
    _rescored_models(seeded)
    ranker = learned.LearnedRanker(
        model=AdvocateModel.objects.get(pk=model.pk), currency=seeded.currency
    )
    customers = list(Customer.objects.filter(program=seeded).order_by("pk"))
    signals = scoring.signals_for(program=seeded, customers=customers)
    from django.utils import timezone

    now = timezone.now()
    pairs = sorted(
        (
            ranker.probability_and_parts(
                learned.features(signals=signals[c.pk], currency=seeded.currency, now=now)
            )[0],
            c.score,
        )
        for c in customers
    )
    scores = [s for _, s in pairs]
    assert scores == sorted(scores)  # a higher probability never gets a lower score
    assert scores[0] <= 5 and scores[-1] >= 95


def test_without_scikit_learn_training_fails_clearly_and_the_default_ranks(seeded, monkeypatch):
    RecruitmentSettings.objects.filter(program=seeded).update(ranking="learned")
    AdvocateModel.objects.all().delete()
    # As on an install without the ml extra: importing scikit-learn raises ImportError.
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    model = AdvocateModel.objects.create(program=seeded)
    assert learned.advocate_model_train(model_id=model.pk) == AdvocateModel.Status.FAILED
    model.refresh_from_db()
    assert model.error == learned.MISSING_ML
    assert _rescored_models(seeded) == {scoring.MODEL_NAME}
    assert "none is trained" in learned.ranking_status(seeded)


def test_too_few_outcomes_fail_with_the_reason(program):
    from recruitment import services

    services.customers_upsert(
        program=program,
        rows=[(i, {"external_id": f"c-{i}", "email": f"c{i}@example.com"}) for i in range(30)],
    )
    model = AdvocateModel.objects.create(program=program)
    assert learned.advocate_model_train(model_id=model.pk) == AdvocateModel.Status.FAILED
    assert AdvocateModel.objects.get(pk=model.pk).error.startswith("Not enough known outcomes: 0")
    # A second run of the same task does nothing (it is not queued any more).
    assert learned.advocate_model_train(model_id=model.pk) == "not-queued"


def test_managers_train_from_the_admin_and_see_the_auc_beside_the_default(
    client, seeded, django_capture_on_commit_callbacks
):
    client.force_login(staff("alice", seeded))
    settings_row = RecruitmentSettings.objects.get(program=seeded)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:recruitment_recruitmentsettings_changelist"),
            {"action": "train_model", "_selected_action": [settings_row.pk]},
        )
    assert response.status_code == 302
    newest = AdvocateModel.objects.filter(program=seeded).order_by("-pk").first()
    # No broker in tests: the outbox ran the Celery task in-process on commit.
    assert newest.status == AdvocateModel.Status.READY
    assert AuditLog.objects.filter(
        action=AuditAction.ADVOCATE_MODEL_REQUESTED, object_id=str(newest.pk)
    ).exists()
    page = client.get(reverse("admin:recruitment_advocatemodel_change", args=[newest.pk]))
    body = page.content.decode()
    assert f"{newest.auc:.3f}" in body and f"{newest.default_auc:.3f}" in body
    assert "Calibration" in body and "recency_days" in body
    listing = client.get(reverse("admin:recruitment_recruitmentsettings_changelist")).content
    assert b"What ranks now" in listing
