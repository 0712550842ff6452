"""Money helpers: amounts are integer minor units with an ISO 4217 currency."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Minor-unit exponent per supported currency (ISO 4217).
CURRENCY_EXPONENTS = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "NOK": 2,
    "SEK": 2,
    "DKK": 2,
    "RON": 2,
    "CNY": 2,
    "CHF": 2,
    "PLN": 2,
    "CAD": 2,
    "AUD": 2,
    "JPY": 0,
}
CURRENCY_CHOICES = [(c, c) for c in sorted(CURRENCY_EXPONENTS)]

# Orders above this (in major units) are rejected as absurd input.
MAX_AMOUNT_MAJOR = Decimal("10000000")


class MoneyError(ValueError):
    """An amount or currency that cannot be accepted."""


def to_minor(amount: str | Decimal, currency: str) -> int:
    """Convert a decimal amount string in ``currency`` into integer minor units."""
    if currency not in CURRENCY_EXPONENTS:
        raise MoneyError(f"Unsupported currency {currency!r}.")
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


def format_money(amount_minor: int, currency: str) -> str:
    """Amount and currency for people, in the active language (``10,00 EUR`` in Swedish)."""
    from django.utils.formats import number_format

    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    value = Decimal(amount_minor).scaleb(-exponent)
    return f"{number_format(value, decimal_pos=exponent, force_grouping=True)} {currency}"
