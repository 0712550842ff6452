from .catalog import CatalogItem, Redemption
from .coupons import CouponCode, CouponPool
from .ledger import LedgerEntry, Reward
from .payouts import Payout, PayoutAccount
from .rules import RewardDecision, RewardRule

__all__ = [
    "CatalogItem",
    "CouponCode",
    "CouponPool",
    "LedgerEntry",
    "Payout",
    "PayoutAccount",
    "Redemption",
    "Reward",
    "RewardDecision",
    "RewardRule",
]
