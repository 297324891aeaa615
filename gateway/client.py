"""A client that signs: build a CAIP-122 message for a gateway URL, sign it, send requests.

    from gateway.client import EvmSigner, sign_header
    header = sign_header("http://127.0.0.1:8000/api/v1/image/generate", EvmSigner.throwaway())

EVM messages use the EIP-4361 layout (`Chain ID: 1`); Solana messages the SIWS layout. The domain is
pinned to the URL you give (never taken from a server's challenge), each header gets a fresh random
nonce, `Issued At` = now and a short `Expiration Time` (5 minutes by default).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

import base58
import coincurve
import httpx
import msgspec
from eth_hash.auto import keccak
from nacl.signing import SigningKey

from gateway.auth.envelope import HEADER_NAME, encode_envelope
from gateway.auth.message import SiwxMessage, format_message
from gateway.auth.signatures import checksum_address, eip191_digest
from gateway.client_stream import StreamFailed, read_stream

GENERATE_PATH = "/api/v1/image/generate"
EDIT_PATH = "/api/v1/image/edit"
SOLANA_MAINNET = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"


class Signer(Protocol):
    @property
    def address(self) -> str: ...
    @property
    def account_word(self) -> str: ...  # "Ethereum" | "Solana"
    @property
    def chain_id(self) -> str: ...  # as written in the message

    def sign(self, message: bytes) -> str: ...


@dataclass(frozen=True, slots=True)
class EvmSigner:
    """An EOA: EIP-191 personal_sign with a secp256k1 key (hex, `0x` optional)."""

    key: coincurve.PrivateKey
    address: str
    chain_id: str = "1"
    account_word: str = "Ethereum"

    @classmethod
    def from_hex(cls, private_key: str, *, chain_id: str = "1") -> EvmSigner:
        key = coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))
        public = key.public_key.format(compressed=False)[1:]
        address = checksum_address("0x" + bytes(keccak(public))[-20:].hex())
        return cls(key=key, address=address, chain_id=chain_id)

    @classmethod
    def throwaway(cls, *, chain_id: str = "1") -> EvmSigner:
        return cls.from_hex(secrets.token_bytes(32).hex(), chain_id=chain_id)

    def sign(self, message: bytes) -> str:
        raw = self.key.sign_recoverable(eip191_digest(message), hasher=None)  # r || s || recid, low-s
        return "0x" + raw[:64].hex() + bytes([27 + raw[64]]).hex()


@dataclass(frozen=True, slots=True)
class SolanaSigner:
    """An ed25519 keypair; the address is the base58 public key."""

    key: SigningKey
    address: str
    chain_id: str = SOLANA_MAINNET
    account_word: str = "Solana"

    @classmethod
    def from_secret(cls, secret: str, *, chain_id: str | None = None) -> SolanaSigner:
        """A base58 secret (64-byte keypair as wallets export it, or a 32-byte seed), or the path of
        a `solana-keygen` JSON file (a list of 64 numbers)."""
        path = Path(secret)
        if secret.endswith(".json") and path.is_file():
            raw = bytes(json.loads(path.read_text()))
        else:
            raw = base58.b58decode(secret.strip())
        if len(raw) not in (32, 64):
            raise ValueError("a Solana secret must be a 32-byte seed or a 64-byte keypair")
        key = SigningKey(raw[:32])
        address = base58.b58encode(bytes(key.verify_key)).decode("ascii")
        if len(raw) == 64 and raw[32:] != bytes(key.verify_key):
            raise ValueError("the keypair's public half does not match its secret half")
        return cls(key=key, address=address, chain_id=chain_id or SOLANA_MAINNET)

    @classmethod
    def throwaway(cls) -> SolanaSigner:
        return cls.from_secret(base58.b58encode(secrets.token_bytes(32)).decode("ascii"))

    def sign(self, message: bytes) -> str:
        return base58.b58encode(self.key.sign(message).signature).decode("ascii")


def build_message(
    url: str,
    signer: Signer,
    *,
    statement: str | None = None,
    nonce: str | None = None,
    lifetime: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
) -> str:
    """The CAIP-122 text for a request to `url` (domain = its host:port, URI = the URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    issued = (now or datetime.now(UTC)).astimezone(UTC)
    return format_message(
        SiwxMessage(
            domain=parts.netloc,
            address=signer.address,
            account_word=signer.account_word,
            statement=statement,
            uri=url,
            version="1",
            chain_id=signer.chain_id,
            nonce=nonce or secrets.token_hex(16),
            issued_at=_rfc3339(issued),
            expiration_time=_rfc3339(issued + lifetime),
            two_blank_lines=signer.account_word == "Ethereum",
        )
    )


def sign_header(
    url: str,
    signer: Signer,
    *,
    statement: str | None = None,
    nonce: str | None = None,
    lifetime: timedelta = timedelta(minutes=5),
) -> str:
    """The `Sign-In-With-X` header value for one request to `url` (fresh nonce unless given)."""
    message = build_message(url, signer, statement=statement, nonce=nonce, lifetime=lifetime)
    return encode_envelope(message, signer.sign(message.encode("utf-8")))


def load_signer(
    *, evm_key: str | None = None, solana_key: str | None = None, chain_id: str | None = None
) -> Signer:
    """The signer for the given key (EVM hex or Solana secret / keygen file), else a throwaway EVM one."""
    if evm_key and solana_key:
        raise ValueError("give an EVM key or a Solana key, not both")
    if solana_key:
        return SolanaSigner.from_secret(solana_key, chain_id=chain_id)
    if evm_key:
        return EvmSigner.from_hex(evm_key, chain_id=chain_id or "1")
    return EvmSigner.throwaway(chain_id=chain_id or "1")


def wait_until_up(base_url: str, client: httpx.Client, *, timeout_s: float = 15.0) -> None:
    """Poll /healthz while the gateway refuses connections (e.g. `imagegate serve &` just started)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.get(base_url.rstrip("/") + "/healthz")
            return
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def fetch_issued_nonce(base_url: str, client: httpx.Client) -> str:
    """A server-issued nonce (for gateways with `auth.require_issued_nonce: true`)."""
    response = client.get(base_url.rstrip("/") + "/api/v1/auth/nonce")
    response.raise_for_status()
    nonce: str = response.json()["nonce"]
    return nonce


def generate_images(
    base_url: str,
    body: dict[str, object],
    signer: Signer,
    out_dir: Path,
    *,
    client: httpx.Client,
    issued_nonce: bool = False,
    progress: TextIO | None = None,
    endpoint: str = GENERATE_PATH,
) -> list[Path]:
    """POST a signed generate request (or, with `endpoint=EDIT_PATH`, an edit) and save each returned
    image; the files' paths.

    With `"stream": true` in `body` the answer is read as it streams, with a progress bar on `progress`.
    """
    url = base_url.rstrip("/") + endpoint
    nonce = fetch_issued_nonce(base_url, client) if issued_nonce else None
    headers = {HEADER_NAME: sign_header(url, signer, nonce=nonce)}
    with client.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            response.read()
            error = response.json().get("error", {}) if _is_json(response) else {}
            raise GatewayCallError(response.status_code, error.get("code", ""), error.get("message", ""))
        payload: dict[str, Any]
        if body.get("stream"):
            try:
                payload = read_stream(response, n=int(str(body.get("n", 1))), progress=progress)
            except StreamFailed as exc:
                raise GatewayCallError(200, exc.code, exc.message) from exc
        else:
            payload = msgspec.json.decode(response.read())
    return save_images(payload, out_dir)


def save_images(payload: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write each image of a generate response (`data_url`s) to `out_dir`; the files' paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for image in payload["images"]:
        header, _, data = image["data_url"].partition(",")
        extension = header.removeprefix("data:image/").split(";", 1)[0].replace("jpeg", "jpg")
        path = out_dir / f"imagegate-{payload['id']}-{image['index']}.{extension}"
        path.write_bytes(base64.b64decode(data))
        paths.append(path)
    return paths


class GatewayCallError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _is_json(response: httpx.Response) -> bool:
    return str(response.headers.get("content-type", "")).startswith("application/json")


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
