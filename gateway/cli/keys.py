"""`imagegate keys create NAME`: a new operator API key."""

from __future__ import annotations

import argparse
import sys


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="operator API keys (auth.api_keys in the routing YAML)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="print a new secret (first line) and its YAML entry")
    create.add_argument("name", help="the key's name (letters, digits, _ . -)")
    create.set_defaults(run=_keys_create)


def _keys_create(args: argparse.Namespace) -> int:
    import msgspec

    from gateway.auth.api_keys import digest, key_entry, new_secret
    from gateway.config.auth import ApiKeyConfig

    secret = new_secret()
    try:
        msgspec.convert({"name": args.name, "sha256": digest(secret)}, ApiKeyConfig)
    except msgspec.ValidationError as exc:
        print(f"imagegate keys create: {exc}", file=sys.stderr)
        return 2
    # The secret alone on the first line (scripts read it with `head -1`); it is shown only here.
    print(secret)
    print("# paste under auth: api_keys: in the routing YAML, then reload; store the secret above now")
    print("  api_keys:")
    print(key_entry(args.name, secret), end="")
    return 0
