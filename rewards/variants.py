"""A hook for layers above to vary an advocate's offer (A/B tests of reward amounts).

Rewards never imports those layers: a provider registers itself here (from its
app's ``ready()``) and is asked, for one advocate, which offer they get. The
answer may hold ``advocate_reward_minor`` (the amount of the program's cash
rules for the advocate, in the program's currency) and ``commission_percent``
(the percent of its commission rules). The rules apply it (before a tier's
multiplier) and the offer's texts show it, so what an advocate reads is what they
earn. With no provider, or an empty answer, the rules' own amounts apply.
"""

from collections.abc import Callable
from decimal import Decimal

Provider = Callable[..., dict]  # provider(advocate=Advocate) -> overrides (see above)
_providers: list[Provider] = []


def provider_register(provider: Provider) -> None:
    """Register a provider once (registering it again changes nothing)."""
    if provider not in _providers:
        _providers.append(provider)


def offer_for(*, advocate) -> dict:
    """The advocate's offer overrides: the first provider with an answer wins."""
    if advocate is None:
        return {}
    for provider in _providers:
        answer = provider(advocate=advocate)
        if answer:
            return answer
    return {}


def cash_amount(*, advocate, amount_minor: int) -> int:
    """A cash rule's amount for this advocate (the variant's, if they are in one)."""
    value = offer_for(advocate=advocate).get("advocate_reward_minor")
    return amount_minor if value is None else int(value)


def commission_percent(*, advocate, percent: Decimal) -> Decimal:
    """A commission rule's percent for this advocate (the variant's, if they are in one)."""
    value = offer_for(advocate=advocate).get("commission_percent")
    return percent if value is None else Decimal(value)
