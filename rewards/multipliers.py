"""A hook for layers above to scale what the rules give an advocate (VIP tiers).

Rewards never imports those layers: a provider registers itself here (from its
app's ``ready()``) and is asked, inside the rules' transaction, for the
advocate's multiplier. With no provider, or a multiplier of 1, nothing changes.
"""

from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal

Provider = Callable[..., Decimal]  # provider(advocate=Advocate) -> Decimal >= 1
_providers: list[Provider] = []


def provider_register(provider: Provider) -> None:
    """Register a provider once (registering it again changes nothing)."""
    if provider not in _providers:
        _providers.append(provider)


def multiplier_for(*, advocate) -> Decimal:
    """The largest multiplier any provider gives the advocate (never below 1)."""
    return max([Decimal(1), *(Decimal(p(advocate=advocate)) for p in _providers)])


def amount_multiply(*, advocate, amount_minor: int) -> int:
    """``amount_minor`` scaled by the advocate's multiplier, rounded down to a whole unit."""
    factor = multiplier_for(advocate=advocate)
    if factor == 1:
        return amount_minor
    return int((Decimal(amount_minor) * factor).to_integral_value(rounding=ROUND_DOWN))
