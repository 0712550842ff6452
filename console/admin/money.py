"""Money and lists in the admin as a manager reads them: major units, domains one per line.

The models keep integer minor units (``amount_minor``); the forms here take
"100.00" in the program's currency and store 10000, and lists show "€100.00"
formatted for the manager's language.
"""

import json
import re
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from core.money import CURRENCY_EXPONENTS, MoneyError, format_money, to_decimal_string, to_minor
from rewards.ledger import POINTS_CURRENCY

DOMAIN_RE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


def show_money(amount_minor: int | None, currency: str) -> str:
    """``10000, "EUR"`` -> ``"€100.00"`` in the active language; points as a count."""
    if amount_minor is None:
        return "—"
    if currency == POINTS_CURRENCY:
        return f"{amount_minor} pts"
    if not currency:
        return "—"
    return format_money(amount_minor, currency)


def money_column(field: str, description: str, currency_field: str = "currency"):
    """A list column showing ``field`` (minor units) formatted in the row's currency."""

    @admin.display(description=description, ordering=field)
    def column(self, obj):
        return show_money(getattr(obj, field), getattr(obj, currency_field))

    return column


class MajorUnitsField(forms.DecimalField):
    """An amount typed in major units ("100.00"); the form turns it into minor units."""

    widget = forms.TextInput(attrs={"inputmode": "decimal", "size": 12})

    def __init__(self, *, required=False, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 3)
        super().__init__(required=required, **kwargs)


class MoneyFormMixin:
    """A ModelForm whose ``*_minor`` fields are typed in major units of a currency.

    ``money_fields`` names the model fields; ``money_currency(data)`` says which
    currency they are in (the program's). The value is converted in ``clean()``,
    before the instance is built, so the model always receives minor units.
    """

    money_fields: tuple[str, ...] = ()

    def money_currency(self, data: dict | None = None) -> str:
        raise NotImplementedError

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            currency = self.money_currency()
        except Exception:  # no program chosen yet
            currency = ""
        for name in self.money_fields:
            if name not in self.fields:
                continue
            old = self.fields[name]
            label = str(old.label or name).replace(" minor", "").replace("Minor", "").strip()
            field = MajorUnitsField(
                required=old.required,
                label=label[:1].upper() + label[1:],
                help_text=self._money_help(old.help_text, currency),
            )
            self.fields[name] = field
            value = self.initial.get(name, old.initial)  # a new object: the model default
            if callable(value):
                value = value()
            if value not in (None, "") and currency in CURRENCY_EXPONENTS:
                self.initial[name] = Decimal(to_decimal_string(int(value), currency))

    @staticmethod
    def _money_help(text, currency: str) -> str:
        text = str(text or "").replace("(minor units, program currency) ", "")
        text = text.replace(", in minor units of the program's currency", "")
        where = currency or "the program's currency"
        return f"{text} In {where}, e.g. 100.00.".strip()

    def clean(self):
        data = super().clean()
        try:
            currency = self.money_currency(data)
        except Exception:  # the program field has its own error
            return data
        for name in self.money_fields:
            value = data.get(name)
            if name not in self.fields or value is None:
                continue
            try:
                data[name] = to_minor(Decimal(value), currency)
            except MoneyError as exc:
                self.add_error(name, str(exc))
                continue
            if data[name] < 0:
                self.add_error(name, "Enter a positive amount.")
        return data


class DomainListField(forms.CharField):
    """Domains typed one per line (or separated by commas or spaces), stored as a list."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40, "placeholder": "shop.example.com"})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value

    def to_python(self, value):
        if isinstance(value, list | tuple):
            items = value
        elif (value or "").strip().startswith("["):
            try:  # the JSON list older forms and scripts send
                items = [str(v) for v in json.loads(value)]
            except (ValueError, TypeError) as exc:
                raise ValidationError("Write the domains one per line.") from exc
        else:
            items = (value or "").replace(",", " ").split()
        domains = []
        for item in items:
            domain = item.strip().lower().removeprefix("https://").removeprefix("http://")
            domain = domain.split("/", 1)[0].strip(".")
            if not domain:
                continue
            if "." not in domain or not DOMAIN_RE.fullmatch(domain):
                raise ValidationError(f"{item!r} is not a domain such as shop.example.com.")
            if domain not in domains:
                domains.append(domain)
        return domains
