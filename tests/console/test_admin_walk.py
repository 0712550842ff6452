"""Every admin form and action, walked as the owner of one program while others exist.

For each model the admin scopes to programs, and each model its forms offer as a
choice, another program holds a row (made by model_bakery, so a new model is covered
without a new fixture). The owner of a program of their own then opens every add page
and a change page of each of their rows, and no choice on any form or inline form may
belong to another program (or be staff of none of theirs). Then every action of every
admin is posted with the other programs' rows selected, and none of them may change.
"""

import random

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.db.models import Q
from django.forms.models import model_to_dict
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from model_bakery import baker

from advocacy.admin_scope import ProgramScopedAdmin, program_path
from advocacy.models import AuditLog, Program, ProgramMembership
from tests.factories import UserFactory

PROJECT_APPS = [
    "advocacy", "referrals", "rewards", "recruitment", "nurture", "fraud", "integrations",
    "measurement", "storefront",
]  # fmt: skip
SCOPED = {m: a for m, a in admin.site._registry.items() if isinstance(a, ProgramScopedAdmin)}


def _recipe(model) -> dict:
    """What model_bakery cannot guess: values the models' check constraints require."""
    label = model._meta.label
    if label == "integrations.WebhookDelivery":
        return {"status": "pending", "next_attempt_at": timezone.now()}
    if label == "referrals.Referral":
        return {"friend_email_normalized": "friend@example.org"}
    if label == "rewards.Perk":
        return {"url": "https://perk.example.org/"}
    if label == "rewards.CatalogItem":
        return {"kind": "early_access", "perk": _make(model._meta.get_field("perk").related_model)}
    if label == "rewards.Redemption":
        return {"item": _make(model._meta.get_field("item").related_model)}
    if label == "measurement.Goal":
        return {"starts_on": timezone.localdate(), "deadline": timezone.localdate()}
    if label == "rewards.LedgerEntry":
        return {"kind": "adjustment", "amount_minor": 100}
    return {}


# Every whole number 1: amounts positive, refunds and reversals within them, a score
# and a percentage in range (model_bakery's random numbers break the checks at random).
INTEGERS = [
    f"django.db.models.{kind}IntegerField"
    for kind in ("", "Big", "Small", "Positive", "PositiveBig", "PositiveSmall")
]


def _make(model, **fields):
    with transaction.atomic():
        return baker.make(model, **{**_recipe(model), **fields})


def _choice_models() -> set:
    targets = set(SCOPED)
    for model, model_admin in SCOPED.items():
        inline_models = [inline.model for inline in model_admin.inlines]
        for current in [model, *inline_models]:
            for field in current._meta.get_fields():
                if field.is_relation and field.concrete and field.related_model:
                    targets.add(field.related_model)
    return targets


@pytest.fixture
def world(db):
    random.seed(7)  # model_bakery's other values: the same rows every run
    for kind in INTEGERS:
        baker.generators.add(kind, lambda: 1)
    home = baker.make(Program, name="Home")
    owner = UserFactory(username="owner", is_staff=True)
    ProgramMembership.objects.create(program=home, user=owner, role=ProgramMembership.Role.OWNER)
    owner.user_permissions.set(Permission.objects.filter(content_type__app_label__in=PROJECT_APPS))
    stranger = UserFactory(username="stranger", is_staff=True)  # staff of another program
    others = {}
    for model in sorted(_choice_models(), key=lambda m: m._meta.label):
        if program_path(model) in (None, "") or model is User:
            continue
        others[model] = _make(model)
    ProgramMembership.objects.create(
        program=Program.objects.exclude(pk=home.pk).first(),
        user=stranger,
        role=ProgramMembership.Role.OWNER,
    )
    mine = {m: _make(m, program=home) for m in SCOPED if program_path(m) == "program"}
    yield home, owner, others, mine
    baker.generators.user_mapping.clear()


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _foreign_choices(field, home) -> list:
    """The choices of ``field`` that are not of ``home`` (or of its staff)."""
    queryset = getattr(field, "queryset", None)
    if queryset is None:
        return []
    model = queryset.model
    if model is User:
        mine = Q(program_memberships__program=home) | Q(advocates__program=home)
        return list(queryset.exclude(pk__in=User.objects.filter(mine).values("pk")))
    path = program_path(model)
    if path is None:
        return []
    return list(queryset.exclude(**{path or "pk": home.pk}))


def _forms_of(response) -> list:
    context = response.context
    forms = [context["adminform"].form] if "adminform" in context else []
    for inline in context.get("inline_admin_formsets", []):
        forms += [*inline.formset.forms, inline.formset.empty_form]
    return forms


def test_every_form_offers_only_the_owners_programs_rows(client, world):
    home, owner, _, mine = world
    client.force_login(owner)
    pages = [_url(model, "add") for model in SCOPED]
    pages += [_url(model, "change", obj.pk) for model, obj in mine.items()]
    opened, leaks = 0, []
    for page in pages:
        response = client.get(page)
        assert response.status_code in (200, 302, 403), (page, response.status_code)
        if response.status_code != 200:
            continue
        opened += 1
        for form in _forms_of(response):
            for name, field in form.fields.items():
                if name == form._meta.model._meta.pk.name:
                    # An inline row's own id: Django looks a posted one up among the
                    # parent's rows only, whatever this field's queryset holds.
                    continue
                foreign = _foreign_choices(field, home)
                if foreign:
                    leaks.append(f"{page} {name}: {foreign[:3]}")
    assert not leaks, "\n".join(leaks)
    assert opened >= len(SCOPED) // 2  # the walk really opened the forms


def test_no_action_changes_another_programs_rows(client, world):
    home, owner, others, _ = world
    client.force_login(owner)
    before = {model: model_to_dict(obj) for model, obj in others.items()}
    audit_before = AuditLog.objects.exclude(program=home).count()
    posted = 0
    for model, model_admin in SCOPED.items():
        obj = others.get(model)
        if obj is None:
            continue
        request = client.get(_url(model, "changelist")).wsgi_request
        for action in model_admin.get_actions(request):
            try:
                page = _url(model, "changelist")
            except NoReverseMatch:  # pragma: no cover - every admin has a changelist
                continue
            response = client.post(
                page, {"action": action, "_selected_action": [obj.pk], "index": 0}
            )
            assert response.status_code < 500, (model, action)
            posted += 1
    assert posted >= len(SCOPED) // 2  # the walk really posted the actions
    for model, obj in others.items():
        assert model.objects.filter(pk=obj.pk).exists(), model
        assert model_to_dict(model.objects.get(pk=obj.pk)) == before[model], model
    assert AuditLog.objects.exclude(program=home).count() == audit_before


def test_a_posted_choice_of_another_program_is_refused(client, world):
    """Not only hidden: a form posted with another program's row is invalid."""
    _, owner, others, _ = world
    client.force_login(owner)
    checked = 0
    for model in SCOPED:
        response = client.get(_url(model, "add"))
        if response.status_code != 200:
            continue
        form = response.context["adminform"].form
        for name, field in form.fields.items():
            queryset = getattr(field, "queryset", None)
            if queryset is None or queryset.model not in others:
                continue
            foreign = others[queryset.model]
            bound = type(form)(data={name: str(foreign.pk)})
            bound.is_valid()
            assert name in bound.errors, (model, name)
            checked += 1
    assert checked > 0


def test_the_walk_covers_the_models_managers_choose_between(world):
    _, _, others, _ = world
    labels = {model._meta.label for model in others}
    for needed in [
        "recruitment.Segment", "rewards.Perk", "rewards.CouponPool", "nurture.Tier",
        "advocacy.Advocate", "recruitment.Customer", "measurement.Variant",
        "recruitment.NpsSurvey", "rewards.CatalogItem",
    ]:  # fmt: skip
        assert needed in labels
