"""Input fields of the API shared by several serializers, each with the schema that
says exactly what it accepts (``core/api_schema.py`` documents the rest)."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .errors import Unprocessable
from .money import CURRENCY_EXPONENTS, MAX_AMOUNT_MAJOR

# Positive amounts up to MAX_AMOUNT_MAJOR, as ``to_minor`` takes them: ASCII digits,
# an optional fraction, leading zeros allowed, trailing zeros beyond the currency's
# decimals allowed ("49.900"), more significant decimals not.
assert MAX_AMOUNT_MAJOR == 10_000_000  # the patterns below spell it out
AMOUNT_PATTERN = {
    2: r"^0*([1-9][0-9]{0,6}(\.[0-9]{1,2}0*)?|10000000(\.0+)?|0\.(0[1-9]|[1-9][0-9]?)0*)$",
    0: r"^0*([1-9][0-9]{0,6}|10000000)(\.0+)?$",
}
assert set(CURRENCY_EXPONENTS.values()) <= set(AMOUNT_PATTERN)
CURRENCIES_BY_EXPONENT = {
    exponent: sorted(c for c, e in CURRENCY_EXPONENTS.items() if e == exponent)
    for exponent in sorted(set(CURRENCY_EXPONENTS.values()))
}


def currency_enum(codes) -> list[str]:
    """A currency is its ISO code in capitals, or all in small letters."""
    return [*codes, *(c.lower() for c in codes)]


class StringField(serializers.CharField):
    """Text that arrives as a JSON string. DRF's ``CharField`` also takes ``123`` as
    ``"123"``, which the schema (``type: string``) does not allow: a number, a boolean,
    a list or an object is refused with a 400 that says so."""

    default_error_messages = {"not_a_string": "Send this as a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


@extend_schema_field(
    {"type": "string", "maxLength": 20, "pattern": AMOUNT_PATTERN[2], "example": "49.90"}
)
class AmountField(serializers.CharField):
    """A positive decimal string; its decimals are checked against the currency later."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)

    default_error_messages = {"invalid": "Send the amount as a decimal string."}


@extend_schema_field({"type": "string", "enum": currency_enum(sorted(CURRENCY_EXPONENTS))})
class CurrencyField(serializers.CharField):
    """One of the supported currencies: ``EUR`` or ``eur`` (answered in capitals)."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value.upper() not in CURRENCY_EXPONENTS or value not in (value.upper(), value.lower()):
            raise serializers.ValidationError(f"Unsupported currency {value!r}.")
        return value.upper()


def amount_per_currency(amount: str = "amount", currency: str = "currency") -> dict:
    """``openapi_extra`` of a serializer with an amount and its currency: the decimals
    allowed depend on the currency (JPY: none)."""
    return {
        "anyOf": [
            {
                "properties": {
                    currency: {"enum": currency_enum(codes)},
                    amount: {"pattern": AMOUNT_PATTERN[exponent]},
                }
            }
            for exponent, codes in CURRENCIES_BY_EXPONENT.items()
        ]
    }


# Dates of orders and answers: from 2000 on and not ahead of this platform's clock by
# more than a day (shops' clocks differ a little). Outside, a date is a mistake, and
# dates near the calendar's ends overflow the arithmetic of windows and limits.
EARLIEST_OCCURRED = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=1)
OCCURRED_WINDOW = "after 2000-01-01 and not in the future"


def occurred_in_window(value: datetime | None) -> bool:
    return value is None or EARLIEST_OCCURRED <= value <= timezone.now() + LATEST_AHEAD


def refuse_occurred_outside_window(value: datetime | None, field: str = "occurred_at"):
    """A well-formed date outside the window: understood but refused (422; the schema
    cannot bound a date-time, so this is not a 400)."""
    if not occurred_in_window(value):
        raise Unprocessable(
            "date_out_of_range",
            f"The date must be {OCCURRED_WINDOW}.",
            fields={field: [f"Must be {OCCURRED_WINDOW}."]},
        )
    return value


# The enums, named in the schema by SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].
CURRENCY_ENUM = currency_enum(sorted(CURRENCY_EXPONENTS))
CURRENCY_0_DECIMALS_ENUM = currency_enum(CURRENCIES_BY_EXPONENT[0])
CURRENCY_2_DECIMALS_ENUM = currency_enum(CURRENCIES_BY_EXPONENT[2])
