"""The schema's patterns and bounds say what the validators accept (no database)."""

import re

from hypothesis import given
from hypothesis import strategies as st

from core.api_fields import AMOUNT_PATTERN, CURRENCIES_BY_EXPONENT
from core.api_schema import MAX_BULK_ROWS, NON_BLANK_TEXT, TEXT
from core.money import CURRENCY_EXPONENTS, MoneyError, to_minor
from recruitment.serializers import MAX_ROWS

AMOUNTS = st.from_regex(r"-?[0-9]{1,10}(\.[0-9]{0,4})?", fullmatch=True) | st.text(max_size=12)


def _accepted(amount: str, currency: str) -> bool:
    try:
        return to_minor(amount, currency) > 0
    except MoneyError:
        return False


@given(amount=AMOUNTS, currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_the_amount_pattern_of_a_currency_matches_what_to_minor_accepts(amount, currency):
    pattern = AMOUNT_PATTERN[CURRENCY_EXPONENTS[currency]]
    assert bool(re.search(pattern, amount)) == _accepted(amount, currency), (amount, currency)


def test_amount_patterns_on_the_edges():
    for amount, euro, yen in [
        ("49.90", True, False),
        ("49.900", True, False),
        ("49", True, True),
        ("49.0", True, True),
        ("0.01", True, False),
        ("0.00", False, False),
        ("0", False, False),
        ("10000000", True, True),
        ("10000000.00", True, True),
        ("10000000.01", False, False),
        ("-1", False, False),
        ("1e3", False, False),
        (" 1", False, False),
    ]:
        assert bool(re.search(AMOUNT_PATTERN[2], amount)) is euro is _accepted(amount, "EUR")
        assert bool(re.search(AMOUNT_PATTERN[0], amount)) is yen is _accepted(amount, "JPY")
    assert sorted(c for codes in CURRENCIES_BY_EXPONENT.values() for c in codes) == sorted(
        CURRENCY_EXPONENTS
    )


def test_text_patterns_refuse_nul_and_blank_where_the_fields_do():
    assert re.search(TEXT, "") and re.search(TEXT, " a ")
    assert not re.search(TEXT, "a\x00")
    assert re.search(NON_BLANK_TEXT, " a ") and re.search(NON_BLANK_TEXT, "é")
    for blank in ["", " ", "\t\n", "\u00a0", "a\x00"]:
        assert not re.search(NON_BLANK_TEXT, blank)


def test_the_bulk_envelopes_limit_is_the_serializers():
    assert MAX_BULK_ROWS == MAX_ROWS
