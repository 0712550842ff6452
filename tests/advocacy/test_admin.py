"""The Django admin for program managers: scoped to their programs, money records read-only."""

import hashlib
import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from rest_framework.test import APIClient

from advocacy.models import Advocate, ApiKey, AuditLog, Program, ProgramMembership
from core.normalize import normalize_email
from referrals.models import Click, Conversion, Referral, ReferralLink
from referrals.services import click_record
from rewards.models import CouponPool, LedgerEntry, Reward, RewardRule
from rewards.services import program_create_with_offer
from tests.factories import UserFactory, enroll

READ_ONLY = [LedgerEntry, Reward, Conversion, Click, AuditLog, Referral]
SCOPED = [Program, ApiKey, Advocate, AuditLog, ReferralLink, Click, Referral, Conversion]
SCOPED += [Reward, LedgerEntry]


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


class _FormFields(HTMLParser):
    """What a browser would submit from the admin's main form, as a dict."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v if v is not None else "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and "__prefix__" not in name:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data[name] = a.get("value") or "on"
                return
            self.data[name] = a.get("value", "")
        elif tag == "select" and "__prefix__" not in name:
            self._select = name
        elif tag == "option" and self._select:
            if self._select not in self.data or "selected" in a:
                self.data[self._select] = a.get("value", "")
        elif tag == "textarea" and "__prefix__" not in name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += (
                data.lstrip("\n") if not self.data[self._textarea] else data
            )


def form_of(client, page: str, **changes) -> dict:
    """The admin form at ``page`` as the browser would post it, with ``changes`` applied."""
    response = client.get(page)
    assert response.status_code == 200, page
    parser = _FormFields()
    parser.feed(response.content.decode())
    data = {k: v for k, v in parser.data.items() if k not in ("csrfmiddlewaretoken", "q")}
    data.update({k: ("" if v is None else v) for k, v in changes.items()})
    return data


def buy(secret: str, code: str, order_id: str, currency: str) -> dict:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = api.post(
        "/api/v1/conversions",
        {
            "order_id": order_id,
            "amount": "49.90",
            "currency": currency,
            "customer": {"email": f"friend-{order_id}@example.com"},
            "referral_code": code,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["rewards"], response.json()
    return response.json()


@pytest.fixture
def program_a(program, secret_key, link):
    """Acme Friends: an advocate, a click and an order with a pending reward."""
    click_record(link=link)
    buy(secret_key, link.code, "A-1", "EUR")
    return program


@pytest.fixture
def program_b(db):
    program, secret, _ = program_create_with_offer(
        name="Bravo Outlet",
        landing_url="https://bravo.example.net/",
        currency="USD",
        advocate_reward_minor=500,
    )
    advocate = enroll(program, "bert@example.net", name="Bert")
    link = advocate.links.get()
    click_record(link=link)
    buy(secret, link.code, "B-1", "USD")
    return program


def _staff(username: str, program, perms: bool = True) -> User:
    user = UserFactory(username=username, is_staff=True)
    ProgramMembership.objects.create(program=program, user=user, role=ProgramMembership.Role.OWNER)
    if perms:
        user.user_permissions.set(
            Permission.objects.filter(
                content_type__app_label__in=["advocacy", "referrals", "rewards"]
            )
        )
    return user


@pytest.fixture
def alice(program_a, program_b):
    return _staff("alice", program_a)


@pytest.fixture
def bob(program_a, program_b):
    return _staff("bob", program_b)


@pytest.fixture
def superuser(program_a, program_b):
    return User.objects.create_superuser("root", "root@example.com", "x-root-pass-123")


def as_user(client, user):
    client.force_login(user)
    return client


def _program_ids(model, queryset) -> set[int]:
    if model is Program:
        return set(queryset.values_list("pk", flat=True))
    return set(queryset.values_list("program_id", flat=True))


# --- everything loads -----------------------------------------------------------------


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label_lower)
def test_every_changelist_and_change_page_loads_for_the_superuser(client, superuser, model):
    client = as_user(client, superuser)
    response = client.get(url(model, "changelist"))
    assert response.status_code == 200
    assert (response.context["cl"].result_count > 0) == model._default_manager.exists()
    obj = model._default_manager.first()
    if model in SCOPED:
        assert obj is not None, f"the cast has no {model.__name__} row"
    if obj is not None:
        assert client.get(url(model, "change", obj.pk)).status_code == 200
    search = client.get(url(model, "changelist"), {"q": "example"})
    assert search.status_code == 200


# --- scoping --------------------------------------------------------------------------


@pytest.mark.parametrize("model", SCOPED, ids=lambda m: m.__name__)
def test_a_manager_sees_only_their_programs_rows(client, alice, bob, program_a, program_b, model):
    for user, program in [(alice, program_a), (bob, program_b)]:
        client = as_user(client, user)
        response = client.get(url(model, "changelist"))
        assert response.status_code == 200
        queryset = response.context["cl"].queryset
        assert queryset.exists()
        assert _program_ids(model, queryset) == {program.pk}


def test_a_manager_cannot_open_or_change_another_programs_advocate(client, alice, program_b):
    bert = Advocate.objects.get(program=program_b)
    client = as_user(client, alice)
    for view in ["change", "delete", "history"]:
        response = client.get(url(Advocate, view, bert.pk))
        assert response.status_code in (302, 404), view
        assert "bert@example.net" not in response.content.decode()
    response = client.post(
        url(Advocate, "change", bert.pk),
        {"program": program_b.pk, "email": "evil@example.com", "status": "banned"},
    )
    assert response.status_code in (302, 404)
    bert.refresh_from_db()
    assert (bert.email, bert.status) == ("bert@example.net", "active")
    for model, obj in [
        (Program, program_b),
        (Conversion, Conversion.objects.get(order_id="B-1")),
        (LedgerEntry, LedgerEntry.objects.get(program=program_b)),
        (ApiKey, ApiKey.objects.filter(program=program_b).first()),
    ]:
        assert client.get(url(model, "change", obj.pk)).status_code in (302, 404), model


def test_a_manager_cannot_act_on_another_programs_advocates(client, alice, program_b):
    bert = Advocate.objects.get(program=program_b)
    client = as_user(client, alice)
    client.post(url(Advocate, "changelist"), {"action": "ban", "_selected_action": [bert.pk]})
    bert.refresh_from_db()
    assert bert.status == "active"


@pytest.mark.parametrize(
    "model", [Advocate, ApiKey, Conversion, LedgerEntry], ids=lambda m: m.__name__
)
def test_the_program_filter_does_not_name_other_programs(client, alice, program_b, model):
    client = as_user(client, alice)
    response = client.get(url(model, "changelist"))
    assert response.status_code == 200
    assert program_b.name not in response.content.decode()


def test_a_manager_cannot_link_another_programs_advocate(client, alice, program_a, program_b):
    bert = Advocate.objects.get(program=program_b)
    client = as_user(client, alice)
    form = form_of(
        client, url(ReferralLink, "add"), program=program_a.pk, advocate=bert.pk, code="STOLEN23"
    )
    client.post(url(ReferralLink, "add"), form)
    assert not ReferralLink.objects.filter(code="STOLEN23").exists()


# --- read-only money records ----------------------------------------------------------


@pytest.mark.parametrize("model", READ_ONLY, ids=lambda m: m.__name__)
@pytest.mark.parametrize("who", ["superuser", "alice"])
def test_money_and_history_records_are_read_only(client, request, program_a, who, model):
    user = request.getfixturevalue(who)
    client = as_user(client, user)
    count = model.objects.count()
    obj = model.objects.filter(program=program_a).first()
    assert client.get(url(model, "add")).status_code == 403
    assert client.post(url(model, "add"), {}).status_code == 403
    view = client.get(url(model, "change", obj.pk))
    assert view.status_code == 200
    assert view.context["has_change_permission"] is False
    assert b'name="_save"' not in view.content
    assert client.post(url(model, "change", obj.pk), {}).status_code == 403
    assert client.get(url(model, "delete", obj.pk)).status_code == 403
    assert client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    actions = client.get(url(model, "changelist")).context["cl"].model_admin.get_actions
    assert "delete_selected" not in actions(view.wsgi_request)
    client.post(
        url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk]}
    )
    assert model.objects.count() == count
    assert model.objects.filter(pk=obj.pk).exists()


# --- API keys -------------------------------------------------------------------------

NEW_KEY = re.compile(r"<code>((?:sk|pk)_[A-Za-z0-9]+)</code>")


@pytest.mark.parametrize("kind", ["secret", "publishable"])
def test_creating_an_api_key_shows_the_raw_key_once_and_stores_its_hash(
    client, alice, program_a, kind
):
    client = as_user(client, alice)
    response = client.post(
        url(ApiKey, "add"),
        {"program": program_a.pk, "kind": kind, "name": "ci", "scopes": ["full"]},
        follow=True,
    )
    assert response.status_code == 200
    shown = NEW_KEY.findall(response.content.decode())
    assert len(shown) == 1, response.content.decode()
    raw = shown[0]
    assert raw.startswith(ApiKey.PREFIXES[kind])
    key = ApiKey.objects.get(program=program_a, name="ci")
    assert key.kind == kind
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert key.prefix == raw[:10]
    row = {f.attname: getattr(key, f.attname) for f in ApiKey._meta.concrete_fields}
    assert all(raw not in str(value) for value in row.values()), row
    assert all(raw not in str(a.data) for a in AuditLog.objects.all())
    assert all(raw not in e.object_repr + e.change_message for e in LogEntry.objects.all())
    # Shown once: the next page no longer carries it.
    assert raw not in client.get(url(ApiKey, "changelist")).content.decode()
    assert raw not in client.get(url(ApiKey, "change", key.pk)).content.decode()
    if kind == "secret":
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        advocate = Advocate.objects.get(program=program_a)
        assert api.get(f"/api/v1/advocates/{advocate.pk}").status_code == 200


def test_a_manager_cannot_create_a_key_for_another_program(client, alice, program_b):
    client = as_user(client, alice)
    before = ApiKey.objects.count()
    response = client.post(
        url(ApiKey, "add"),
        {"program": program_b.pk, "kind": "secret", "name": "x", "scopes": ["full"]},
    )
    assert response.status_code == 200
    assert "program" in response.context["adminform"].form.errors
    assert ApiKey.objects.count() == before
    assert not NEW_KEY.search(response.content.decode())


def test_the_revoke_action_revokes_only_the_managers_keys(
    client, alice, program_a, program_b, secret_key
):
    mine = ApiKey.objects.get(program=program_a, kind="secret")
    theirs = ApiKey.objects.get(program=program_b, kind="secret")
    client = as_user(client, alice)
    response = client.post(
        url(ApiKey, "changelist"),
        {"action": "revoke", "_selected_action": [mine.pk, theirs.pk]},
        follow=True,
    )
    assert response.status_code == 200
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None
    assert theirs.revoked_at is None
    assert AuditLog.objects.filter(action="api_key.revoked", object_id=str(mine.pk)).exists()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
    response = api.post("/api/v1/advocates", {"email": "x@example.com"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_an_api_key_cannot_be_deleted(client, superuser, program_a):
    key = ApiKey.objects.filter(program=program_a).first()
    client = as_user(client, superuser)
    assert client.get(url(ApiKey, "delete", key.pk)).status_code == 403
    assert ApiKey.objects.filter(pk=key.pk).exists()


# --- advocates ------------------------------------------------------------------------


def _errors(response) -> str:
    if response.context is None or "adminform" not in response.context:
        return ""
    inline = [f.formset.errors for f in response.context["inline_admin_formsets"]]
    return f"{response.context['adminform'].form.errors} {inline}"


def _new_advocate(client, program, email: str, **changes) -> dict:
    return form_of(
        client, url(Advocate, "add"), program=program.pk, email=email, name="Kari", **changes
    )


def test_creating_an_advocate_in_the_admin_gives_them_a_referral_link(client, alice, program_a):
    client = as_user(client, alice)
    form = _new_advocate(client, program_a, "Kari@Example.com")
    response = client.post(url(Advocate, "add"), form)
    assert response.status_code == 302, _errors(response)
    advocate = Advocate.objects.get(program=program_a, email="Kari@Example.com")
    assert advocate.email_normalized == "kari@example.com"
    assert advocate.status == "active"
    link = advocate.links.get()
    assert link.is_active and link.program_id == program_a.pk
    assert advocate.coupon_code == link.code
    assert AuditLog.objects.filter(action="advocate.enrolled", actor=alice).exists()
    assert client.get(f"/r/{link.code}").status_code == 302


def test_a_manager_cannot_create_an_advocate_in_another_program(client, alice, program_b):
    client = as_user(client, alice)
    form = _new_advocate(client, program_b, "kari@example.com")
    response = client.post(url(Advocate, "add"), form)
    assert response.status_code == 200
    assert "program" in response.context["adminform"].form.errors
    assert not Advocate.objects.filter(email="kari@example.com").exists()


def test_the_user_chosen_when_creating_an_advocate_is_kept(client, superuser, program_a):
    kari = UserFactory(username="kari", email="kari@example.com")
    client = as_user(client, superuser)
    form = _new_advocate(client, program_a, "kari@example.com", user=kari.pk)
    response = client.post(url(Advocate, "add"), form)
    assert response.status_code == 302, _errors(response)
    assert Advocate.objects.get(program=program_a, email="kari@example.com").user == kari


def test_changing_an_advocates_email_in_the_admin_renormalises_it(client, superuser, program_a):
    advocate = Advocate.objects.get(program=program_a)
    client = as_user(client, superuser)
    page = url(Advocate, "change", advocate.pk)
    response = client.post(page, form_of(client, page, email="New.Address@Example.com"))
    assert response.status_code == 302, _errors(response)
    advocate.refresh_from_db()
    assert advocate.email == "New.Address@Example.com"
    assert advocate.email_normalized == normalize_email("New.Address@Example.com")


def test_the_status_actions_change_status_with_an_audit_trail(client, alice, program_a):
    advocate = Advocate.objects.get(program=program_a)
    client = as_user(client, alice)
    for action, status in [("pause", "paused"), ("ban", "banned"), ("activate", "active")]:
        client.post(
            url(Advocate, "changelist"), {"action": action, "_selected_action": [advocate.pk]}
        )
        advocate.refresh_from_db()
        assert advocate.status == status
    assert AuditLog.objects.filter(action="advocate.status_changed", actor=alice).count() == 3


# --- programs -------------------------------------------------------------------------


def _new_program(client, name: str, slug: str, **changes) -> dict:
    return form_of(
        client,
        url(Program, "add"),
        name=name,
        slug=slug,
        landing_url="https://shop.example.org/",
        allowed_domains='["example.org"]',
        **changes,
    )


def test_the_superuser_creates_a_program(client, superuser):
    client = as_user(client, superuser)
    response = client.post(url(Program, "add"), _new_program(client, "Summer Friends", "summer"))
    assert response.status_code == 302, _errors(response)
    program = Program.objects.get(slug="summer")
    assert (program.name, program.landing_url) == ("Summer Friends", "https://shop.example.org/")
    assert program.allowed_domains == ["example.org"]
    assert program.status == "active" and not program.open_enrollment  # a draft
    assert program.api_keys.count() == 2
    assert response["Location"] == url(Program, "change", program.pk)  # keys shown there once
    assert 'id="key-secret">sk_' in client.get(response["Location"]).content.decode()
    assert not program.memberships.exists()
    assert client.get(url(Program, "change", program.pk)).status_code == 200
    listed = client.get(url(Program, "changelist")).context["cl"].queryset
    assert program in listed


def test_a_manager_who_creates_a_program_owns_it(client, alice, program_a):
    client = as_user(client, alice)
    response = client.post(url(Program, "add"), _new_program(client, "Winter Friends", "winter"))
    assert response.status_code == 302, _errors(response)
    program = Program.objects.get(slug="winter")
    assert program.memberships.get().user == alice
    listed = client.get(url(Program, "changelist")).context["cl"].queryset
    assert set(listed) == {program_a, program}


def test_an_invalid_program_is_refused(client, superuser):
    client = as_user(client, superuser)
    form = _new_program(
        client, "Bad", "bad", attribution_window_days="0", hold_days="-1", currency="XXX"
    )
    response = client.post(url(Program, "add"), form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"attribution_window_days", "hold_days", "currency"} <= set(errors)
    assert not Program.objects.filter(slug="bad").exists()


def test_a_staff_user_without_a_membership_sees_no_programs(client, program_a, program_b):
    carol = UserFactory(username="carol", is_staff=True)
    carol.user_permissions.set(Permission.objects.filter(content_type__app_label="advocacy"))
    client = as_user(client, carol)
    response = client.get(url(Advocate, "changelist"))
    assert response.status_code == 200
    assert not response.context["cl"].queryset.exists()
    assert client.get(url(Program, "changelist")).context["cl"].result_count == 0


def test_a_non_staff_user_is_sent_to_the_login_page(client, program_a):
    client = as_user(client, UserFactory(username="dave"))
    response = client.get(url(Advocate, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- roles: viewer, manager, owner ------------------------------------------------------


def _member(username: str, role: str, *memberships) -> User:
    """A staff user with every model permission, holding ``role`` in each given program."""
    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["advocacy", "referrals", "rewards", "integrations"]
        )
    )
    for program in memberships:
        ProgramMembership.objects.create(program=program, user=user, role=role)
    return user


def test_a_viewer_sees_the_program_but_changes_nothing(client, program_a, program_b):
    vera = _member("vera", ProgramMembership.Role.VIEWER, program_a)
    advocate = Advocate.objects.get(program=program_a)
    client = as_user(client, vera)
    listing = client.get(url(Advocate, "changelist"))
    assert listing.status_code == 200
    assert list(listing.context["cl"].queryset) == [advocate]
    assert listing.context["action_form"] is None  # no action a viewer may take
    client.post(url(Advocate, "changelist"), {"action": "ban", "_selected_action": [advocate.pk]})
    page = client.get(url(Advocate, "change", advocate.pk))
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    client.post(url(Advocate, "change", advocate.pk), form_of(client, url(Advocate, "change",
                advocate.pk), name="Changed"))  # fmt: skip
    advocate.refresh_from_db()
    assert (advocate.status, advocate.name) == ("active", "Alice")
    assert client.get(url(Advocate, "add")).status_code == 403
    assert client.get(url(RewardRule, "add")).status_code == 403
    adjust = client.post(
        reverse("admin:advocacy_advocate_adjust", args=[advocate.pk]),
        {"amount": "5.00", "currency": "EUR", "reason": "goodwill"},
    )
    assert adjust.status_code == 302
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()


def test_a_manager_runs_the_program_but_not_its_settings_or_keys(client, program_a, program_b):
    max_ = _member("max", ProgramMembership.Role.MANAGER, program_a)
    advocate = Advocate.objects.get(program=program_a)
    client = as_user(client, max_)
    client.post(url(Advocate, "changelist"), {"action": "pause", "_selected_action": [advocate.pk]})
    advocate.refresh_from_db()
    assert advocate.status == "paused"
    assert client.get(url(RewardRule, "add")).status_code == 200
    settings_page = client.get(url(Program, "change", program_a.pk))
    assert settings_page.context["has_change_permission"] is False
    client.post(
        url(Program, "change", program_a.pk),
        form_of(client, url(Program, "change", program_a.pk), name="Renamed"),
    )
    program_a.refresh_from_db()
    assert program_a.name == "Acme Friends"
    assert client.get(url(ApiKey, "add")).status_code == 403
    keys = ApiKey.objects.filter(program=program_a)
    client.post(url(ApiKey, "changelist"), {"action": "revoke", "_selected_action": [keys[0].pk]})
    assert not keys.filter(revoked_at__isnull=False).exists()


def test_an_owner_changes_the_settings_and_the_audit_log_says_who(client, alice, program_a):
    client = as_user(client, alice)
    page = url(Program, "change", program_a.pk)
    response = client.post(page, form_of(client, page, name="Acme Friends Club"))
    assert response.status_code == 302, _errors(response)
    program_a.refresh_from_db()
    assert program_a.name == "Acme Friends Club"
    row = AuditLog.objects.get(action="program.updated", actor=alice)
    assert row.data == {"fields": ["name"]}


def test_a_role_holds_per_program(client, program_a, program_b):
    mia = _member("mia", ProgramMembership.Role.MANAGER, program_a)
    ProgramMembership.objects.create(program=program_b, user=mia, role="viewer")
    alice_ = Advocate.objects.get(program=program_a)
    bert = Advocate.objects.get(program=program_b)
    client = as_user(client, mia)
    client.post(
        url(Advocate, "changelist"),
        {"action": "ban", "_selected_action": [alice_.pk, bert.pk]},
    )
    assert Advocate.objects.get(pk=alice_.pk).status == "banned"
    assert Advocate.objects.get(pk=bert.pk).status == "active"
    assert client.get(url(Advocate, "change", bert.pk)).context["has_change_permission"] is False


# --- admin writes go through services ---------------------------------------------------


def test_saving_program_configuration_leaves_audit_rows(client, alice, program_a):
    client = as_user(client, alice)
    advocate = Advocate.objects.get(program=program_a)
    add_rule = url(RewardRule, "add")
    form = form_of(client, add_rule, program=program_a.pk, name="Points for sign-ups",
                   trigger="signup", recipient="advocate", kind="points", points="50",
                   amount_minor="0")  # fmt: skip
    assert client.post(add_rule, form).status_code == 302
    add_pool = url(CouponPool, "add")
    form = form_of(client, add_pool, program=program_a.pk, name="Spring codes")
    assert client.post(add_pool, form).status_code == 302
    add_link = url(ReferralLink, "add")
    form = form_of(client, add_link, advocate=advocate.pk, code="spring26")
    assert client.post(add_link, form).status_code == 302
    assert ReferralLink.objects.get(code="SPRING26").program == program_a
    actions = set(AuditLog.objects.filter(actor=alice).values_list("action", flat=True))
    assert {"reward_rule.created", "coupon_pool.created", "referral_link.created"} <= actions


def test_a_rule_cannot_use_another_programs_coupon_pool(client, superuser, program_a, program_b):
    theirs = CouponPool.objects.create(program=program_b, name="Bravo codes")
    client = as_user(client, superuser)
    add_rule = url(RewardRule, "add")
    form = form_of(client, add_rule, program=program_a.pk, name="Stolen codes",
                   trigger="signup", recipient="friend", kind="coupon",
                   coupon_pool=theirs.pk, amount_minor="0")  # fmt: skip
    response = client.post(add_rule, form)
    assert response.status_code == 200
    assert "coupon_pool" in response.context["adminform"].form.errors
    assert not RewardRule.objects.filter(name="Stolen codes").exists()


def test_a_manager_is_not_offered_another_programs_pools(client, alice, program_a, program_b):
    CouponPool.objects.create(program=program_b, name="Bravo codes")
    client = as_user(client, alice)
    page = client.get(url(RewardRule, "add")).content.decode()
    assert "Bravo codes" not in page
