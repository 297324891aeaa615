"""The `PAYMENT-REQUIRED` header of our 402, for clients built on x402 (the AiMo SDK).

The AiMo SDK (@aimo.network/client, through @x402/fetch) reads every 402 as an x402 payment
challenge: it decodes `PAYMENT-REQUIRED` (base64 JSON), picks a requirement whose network and
scheme its wallet supports, and throws otherwise — with the requirements in the error text. We
cannot be paid in-band (balances are credited by the operator), so the challenge offers exactly
one requirement that no wallet supports, on a network of our own, carrying our message: the SDK
never signs or pays anything, and the error its user sees contains "insufficient balance: ...
available, this request needs ... reserved; ask the operator to credit account ...".
docs/cost.md ("The 402 and x402 clients") says why.
"""

from __future__ import annotations

import base64

import msgspec

NETWORK = "imagegate:operator-credit"  # matches no wallet's CAIP-2 pattern (eip155:*, solana:*)
SCHEME = "imagegate-prepaid"


def payment_required_header(message: str, needed_micro: int) -> dict[str, str]:
    challenge = {
        "x402Version": 2,
        "error": message,
        "resource": {"url": "", "description": message, "mimeType": "application/json"},
        "accepts": [
            {
                "scheme": SCHEME,
                "network": NETWORK,
                "amount": str(needed_micro),
                "asset": "USD (micro)",
                "payTo": "operator",
                "maxTimeoutSeconds": 0,
                "extra": {"message": message},
            }
        ],
    }
    encoded = base64.b64encode(msgspec.json.encode(challenge)).decode("ascii")
    return {"PAYMENT-REQUIRED": encoded}
