"""`imagegate balance show|credit|debit ACCOUNT [USD]`: an account's prepaid balance, for operators.

Talks to the same Redis the servers use (REDIS_URL); `show` reads the account's budget terms
(allowance, period) from the routing YAML (`--config`, else IMAGEGATE_CONFIG, else the bundled one).
Amounts are USD with at most 6 decimals ("12.50"); the ledger keeps integer micro-USD.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config.cost import BudgetsConfig


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    balance = commands.add_parser("balance", help="show, credit or debit an account's balance (needs REDIS_URL)")
    actions = balance.add_subparsers(dest="balance_command", required=True)
    show = actions.add_parser("show", help="balance, allowance spent, reserved and available")
    show.add_argument("account", help="CAIP-10 account (eip155:1:0x...) or key:<name>")
    show.add_argument("--config", help="routing YAML (default: env IMAGEGATE_CONFIG, else the bundled one)")
    show.set_defaults(run=_run, delta_sign=0)
    for name, sign, text in (("credit", 1, "add USD to the prepaid balance"), ("debit", -1, "take USD off it")):
        action = actions.add_parser(name, help=text)
        action.add_argument("account", help="CAIP-10 account (eip155:1:0x...) or key:<name>")
        action.add_argument("usd", help='amount in USD, e.g. "12.50"')
        action.set_defaults(run=_run, delta_sign=sign)


def _run(args: argparse.Namespace) -> int:
    from gateway.config import ConfigError, load_config
    from gateway.config.cost import to_micro

    url = os.environ.get("REDIS_URL")
    if not url:
        print(
            "imagegate balance: REDIS_URL is not set (balances live in Redis; without it each server "
            "process keeps its own in memory, which this command cannot reach)",
            file=sys.stderr,
        )
        return 2
    delta = 0
    if args.delta_sign:
        try:
            delta = args.delta_sign * to_micro(args.usd, what="USD")
        except ValueError as exc:
            print(f"imagegate balance: {exc}", file=sys.stderr)
            return 2
    try:
        config = load_config(getattr(args, "config", None) or os.environ.get("IMAGEGATE_CONFIG") or None)
    except ConfigError as exc:
        print(f"imagegate balance: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_apply(url, args.account, delta, bool(args.delta_sign), config.budgets))


async def _apply(url: str, account: str, delta: int, adjust: bool, budgets: BudgetsConfig | None) -> int:
    from gateway.budgets import Budgets
    from gateway.config.cost import format_usd
    from gateway.redis import RedisBackend, RedisUnavailable

    backend = RedisBackend.from_url(url)
    budget_service = Budgets.open(backend)
    try:
        if adjust:
            balance = await budget_service.adjust(account, delta)
            if balance is None:
                print(f"imagegate balance: debit refused: {account} has less than {format_usd(-delta)} USD", file=sys.stderr)
                return 1
        snap = await budget_service.snapshot(budgets, account)
    except RedisUnavailable as exc:
        print(f"imagegate balance: {exc}", file=sys.stderr)
        return 1
    finally:
        await backend.aclose()
    print(f"account:   {account}")
    print(f"balance:   {format_usd(snap.balance)} USD (prepaid)")
    print(f"spent:     {format_usd(snap.spent)} USD (allowance, this period)")
    print(f"reserved:  {format_usd(snap.reserved)} USD ({snap.reservations} requests in flight)")
    print(f"available: {format_usd(max(0, snap.available))} USD")
    return 0
