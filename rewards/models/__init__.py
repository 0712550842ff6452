from .catalog import CatalogItem, Redemption
from .coupons import CouponCode, CouponPool
from .ledger import LedgerEntry, Reward
from .payouts import Payout, PayoutAccount
from .perks import Perk
from .rules import RewardDecision, RewardRule

__all__ = [
    "CatalogItem",
    "CouponCode",
    "CouponPool",
    "LedgerEntry",
    "Payout",
    "PayoutAccount",
    "Perk",
    "Redemption",
    "Reward",
    "RewardDecision",
    "RewardRule",
]
