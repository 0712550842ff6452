"""Money helpers: amounts are integer minor units with an ISO 4217 currency.

Minor-unit exponents and formatting for people come from Babel (CLDR data),
in the active language.
"""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision
from django.conf import settings
from django.utils import translation

# The currencies programs may use.
SUPPORTED_CURRENCIES = ("AUD", "CAD", "CHF", "CNY", "DKK", "EUR", "GBP", "JPY", "NOK", "PLN",
                        "RON", "SEK", "USD")  # fmt: skip
# Minor-unit exponent per supported currency (CLDR's, which follows ISO 4217 here).
CURRENCY_EXPONENTS = {c: get_currency_precision(c) for c in SUPPORTED_CURRENCIES}
CURRENCY_CHOICES = [(c, c) for c in SUPPORTED_CURRENCIES]

# Orders above this (in major units) are rejected as absurd input.
MAX_AMOUNT_MAJOR = Decimal("10000000")


class MoneyError(ValueError):
    """An amount or currency that cannot be accepted."""


# Plain ASCII digits with an optional fraction: no exponent ("1e3"), no spaces, no
# other scripts' digits (Arabic-Indic, say), no thousands separators.
AMOUNT_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def to_minor(amount: str | Decimal, currency: str) -> int:
    """Convert a decimal amount string in ``currency`` into integer minor units."""
    if currency not in CURRENCY_EXPONENTS:
        raise MoneyError(f"Unsupported currency {currency!r}.")
    if isinstance(amount, str) and not AMOUNT_RE.fullmatch(amount):
        raise MoneyError('Amount must be a decimal string such as "49.90".')
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError('Amount must be a decimal string such as "49.90".') from exc
    if not value.is_finite():
        raise MoneyError("Amount must be a finite number.")
    # Check the magnitude first: quantizing a huge number overflows the context.
    if abs(value) > MAX_AMOUNT_MAJOR:
        raise MoneyError(f"Amount exceeds the maximum of {MAX_AMOUNT_MAJOR}.")
    exponent = CURRENCY_EXPONENTS[currency]
    quantum = Decimal(1).scaleb(-exponent)
    try:
        exact = value == value.quantize(quantum, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise MoneyError("Amount has too many digits.") from exc
    if not exact:
        raise MoneyError(f"{currency} amounts have at most {exponent} decimal places.")
    return int(value.scaleb(exponent))


def to_decimal_string(amount_minor: int, currency: str) -> str:
    """Format integer minor units as a decimal string (``1000, EUR`` -> ``"10.00"``)."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    value = Decimal(amount_minor).scaleb(-exponent)
    return f"{value:.{exponent}f}"


def _babel_locale(language: str | None) -> Locale:
    try:
        return Locale.parse(translation.to_locale(language or settings.LANGUAGE_CODE))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def format_money(amount_minor: int, currency: str, language: str | None = None) -> str:
    """Amount and currency for people, in ``language`` or the active one (Swedish: ``10,00 €``)."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    value = Decimal(amount_minor).scaleb(-exponent)
    return format_currency(
        value, currency, locale=_babel_locale(language or translation.get_language())
    )
