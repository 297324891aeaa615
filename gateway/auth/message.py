"""CAIP-122 messages (EIP-4361 and SIWS profiles): a strict line parser that keeps the exact text.

`parse` only extracts fields; the signature is always checked over `SiwxMessage.text`, the bytes the
wallet signed. `format_message` is the inverse, used by the client (and property tests).
Accepted layouts when there is no statement: one blank line (SIWS, AiMo, Reown) or two (EIP-4361).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.auth.codes import AuthCode, SiwxRejected

MAX_MESSAGE_BYTES = 4096
MAX_RESOURCES = 32
_PRINTABLE = re.compile(r"[\x20-\x7e\n]*")
_HEADER = re.compile(r"(?:(https?)://)?([A-Za-z0-9._~%!$&'()*+,;=:\[\]@-]+) wants you to sign in with your (Ethereum|Solana) account:")
_STATEMENT = re.compile(r"[\x20-\x7e]+")
_RESOURCE = re.compile(r"- ([A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+)")
# Tagged lines in their fixed order; the first three are mandatory.
_FIELDS = (
    ("uri", "URI: "),
    ("version", "Version: "),
    ("chain_id", "Chain ID: "),
    ("nonce", "Nonce: "),
    ("issued_at", "Issued At: "),
    ("expiration_time", "Expiration Time: "),
    ("not_before", "Not Before: "),
    ("request_id", "Request ID: "),
)
_REQUIRED = ("uri", "version", "chain_id")


@dataclass(frozen=True, slots=True, kw_only=True)
class SiwxMessage:
    """One parsed message. Times stay text here; `policy.py` parses them as RFC 3339."""

    domain: str
    address: str
    account_word: str  # "Ethereum" | "Solana"
    uri: str
    version: str
    chain_id: str  # as written; normalised by chains.normalise_chain
    scheme: str | None = None
    statement: str | None = None
    nonce: str | None = None
    issued_at: str | None = None
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] | None = None
    two_blank_lines: bool = False  # layout when there is no statement (EIP-4361 style)
    text: str = ""  # the exact message that was signed


def _invalid(reason: str) -> SiwxRejected:
    return SiwxRejected(AuthCode.INVALID_MESSAGE, reason)


def check_characters(text: str) -> None:
    """Step 2: size and alphabet (printable ASCII and LF only: no CR, TAB, NUL, non-ASCII)."""
    if len(text) > MAX_MESSAGE_BYTES or len(text.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise _invalid(f"message is longer than {MAX_MESSAGE_BYTES} bytes")
    if not _PRINTABLE.fullmatch(text):
        raise _invalid("message may contain only printable ASCII and LF line breaks")


def parse_message(text: str) -> SiwxMessage:
    """Steps 2-3: parse `text` strictly; raises SiwxRejected(auth_invalid_message) on any deviation."""
    check_characters(text)
    lines = text.split("\n")
    if len(lines) < 4:
        raise _invalid("message is incomplete")
    header = _HEADER.fullmatch(lines[0])
    if header is None:
        raise _invalid("first line must be '<domain> wants you to sign in with your <chain> account:'")
    if lines[2] != "":
        raise _invalid("expected a blank line after the address")
    statement, two_blank, start = _statement(lines)
    values, resources = _fields(lines[start:])
    return SiwxMessage(
        scheme=header.group(1),
        domain=header.group(2),
        account_word=header.group(3),
        address=lines[1],
        statement=statement,
        two_blank_lines=two_blank,
        resources=resources,
        text=text,
        **values,
    )


def _statement(lines: list[str]) -> tuple[str | None, bool, int]:
    """(statement, two_blank_lines, index of the first tagged line)."""
    third = lines[3]
    if third == "":
        return None, True, 4
    if len(lines) > 4 and lines[4] == "":
        if not _STATEMENT.fullmatch(third):
            raise _invalid("statement must be one line of printable ASCII")
        return third, False, 5
    return None, False, 3


def _fields(lines: list[str]) -> tuple[dict[str, str], tuple[str, ...] | None]:
    values: dict[str, str] = {}
    position = 0
    index = 0
    while index < len(lines) and lines[index] != "Resources:":
        line = lines[index]
        for offset, (name, label) in enumerate(_FIELDS[position:]):
            if line.startswith(label):
                values[name] = line[len(label) :]
                position += offset + 1
                break
        else:
            raise _invalid(f"unexpected or out-of-order line {index + 1} after the statement")
        index += 1
    for name in _REQUIRED:
        if name not in values:
            raise _invalid(f"missing required field {name!r}")
    if index == len(lines):
        return values, None
    resources = [_resource(line) for line in lines[index + 1 :]]
    if len(resources) > MAX_RESOURCES:
        raise _invalid(f"more than {MAX_RESOURCES} resources")
    return values, tuple(resources)


def _resource(line: str) -> str:
    match = _RESOURCE.fullmatch(line)
    if match is None:
        raise _invalid("each resource line must be '- <absolute URI>'")
    return match.group(1)


def format_message(message: SiwxMessage) -> str:
    """The message text for these fields (the layout chosen by `two_blank_lines` when no statement)."""
    scheme = f"{message.scheme}://" if message.scheme else ""
    lines = [f"{scheme}{message.domain} wants you to sign in with your {message.account_word} account:"]
    lines += [message.address, ""]
    if message.statement is not None:
        lines += [message.statement, ""]
    elif message.two_blank_lines:
        lines.append("")
    for name, label in _FIELDS:
        value = getattr(message, name)
        if value is not None:
            lines.append(f"{label}{value}")
    if message.resources is not None:
        lines.append("Resources:")
        lines += [f"- {resource}" for resource in message.resources]
    return "\n".join(lines)
