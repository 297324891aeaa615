"""Per-account budgets: reserve a request's maximum cost at admission, settle the actual cost after.

    store.py        the ledger interface and its in-memory twin (the embedded default)
    redis_store.py  the same ledger as one atomic Lua script per step (replicas share it)
    service.py      Budgets: reserve / settle on the request path, the 402, the ticket's context var
    x402.py         the PAYMENT-REQUIRED header that makes x402 clients (the AiMo SDK) show our 402
"""

from gateway.budgets.service import CURRENT, Budgets, InsufficientBalance, Ticket
from gateway.budgets.store import BudgetStore, MemoryBudgetStore, Snapshot, Terms

__all__ = ["CURRENT", "BudgetStore", "Budgets", "InsufficientBalance", "MemoryBudgetStore", "Snapshot", "Terms", "Ticket"]
