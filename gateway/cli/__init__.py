"""The `imagegate` command. Each command group lives in its own module with a `register(commands)`:
a new command is a new module and one line in COMMAND_GROUPS."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gateway.cli import balance, client, edit, jobs, keys, server

COMMAND_GROUPS = (
    server,
    keys,
    client,
    edit,
    jobs,
    balance,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imagegate", description="imagegate image-generation gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(commands)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result
