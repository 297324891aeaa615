"""The adapter seam: one small Protocol every provider implements, and the helpers they share.

An adapter turns one canonical request into one provider call: `ProviderResult` or a typed
`ProviderError` out. It knows nothing of auth, Redis, retries or metrics. Each provider is split
along one seam, pure translation vs I/O (as envoy ai-gateway's translators):

    # adapters/<provider>_translate.py: module-level, synchronous, no I/O (tests need no transport)
    def encode_request(req: ImageRequest, *, model: str, settings: <Provider>Settings,
                       options: <Provider>Options | Mapping[str, object] | None = None,
                       ) -> tuple[<provider body: msgspec Struct or dict>, list[str]]  # warnings
    def decode_response(provider: str, payload: ...) -> <typed success body>   # else ProviderError
    def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError

    # adapters/<provider>.py: the one I/O method, `ImageAdapter.generate` below
    encode -> send / poll / stream / download (gateway.upstream, adapters.polling) -> decode

`model` is the deployment's provider model, `settings` the provider's decoded `settings:`,
`options` the deployment's `options:`. Every canonical field the body cannot carry yields a
warning (`dropped`): tests/adapters/test_translators.py checks that no field of any adapter is
silently lost. A request the provider cannot take at all (`n` above one call's images, a prompt
too long) raises a CALLER_FAULT `ProviderError` before any I/O.

Translation must be deterministic and idempotent: it reruns on every retry and fallback
(gateway/routing/retry.py), so it reads nothing but its arguments and draws nothing at random.
What must be random (a seed the client left unset) is drawn in `generate`, before encoding
(`with_seed`). A provider without a wire (mock) needs only `encode_request`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar, Protocol, TypeVar

import httpx
import msgspec

from gateway import upstream
from gateway.canonical import CallContext, Capabilities, ImageRequest, ProviderResult
from gateway.errors import ProviderError


class ImageAdapter(Protocol):
    kind: ClassVar[str]  # the `adapter:` value in the routing YAML

    def capabilities(self, provider_model: str) -> Capabilities: ...

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """One call. When `ctx.report` is set (a streamed request) and the provider can report
        progress or previews, ask for them and pass each to `ctx.report`; the result and the
        failure contract are the same either way. Cancellation must stop the upstream work (close
        the provider stream, stop polling, interrupt the job if it is ours)."""
        ...

    async def aclose(self) -> None: ...


class EditingAdapter(ImageAdapter, Protocol):
    """An adapter that also edits (image-edit.md): `req.images` holds the checked inputs (the first
    is the base image), `req.mask` the mask in the canonical convention (alpha 0 = edit; convert it
    for providers that want white = edit). Whether a given provider model edits, how many inputs it
    takes and whether it takes a mask is `capabilities(model).edit / max_input_images / edit_mask`;
    the executor calls `edit` only on deployments whose capabilities fit the request. Same result,
    failure and progress contract as `generate`."""

    async def edit(self, req: ImageRequest, ctx: CallContext) -> ProviderResult: ...




class AdapterSettingsError(ValueError):
    """Provider settings failed to decode; `path` names the offending key below `settings`."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


MAX_SEED = 2**31 - 1  # the wire's seed range (gateway/schemas.py): a reported seed must fit it


def with_seed(req: ImageRequest) -> ImageRequest:
    """The request with a seed: the client's, else one drawn here, so the provider does not pick one
    outside 0..MAX_SEED (A1111 draws up to 2^32, BFL likewise) and every reported seed can be sent
    back. The provider numbers `n` images seed, seed+1, ... (A1111 n_iter): all of them must fit.
    Called in `generate`, before the pure (deterministic) encoding."""
    if req.seed is not None:
        return req
    return msgspec.structs.replace(req, seed=secrets.randbelow(MAX_SEED + 2 - max(1, req.n)))


S = TypeVar("S", bound=msgspec.Struct)


class NoOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An adapter that takes no per-deployment `options`: any key is refused."""


def decode_options(options_type: type[S], options: S | Mapping[str, object] | None) -> S:
    """A deployment's options as the adapter's Struct (already validated when the config loaded)."""
    if isinstance(options, options_type):
        return options
    return decode_settings(options_type, options if isinstance(options, Mapping) else {})


# Whether a request sets a canonical field; `dropped` warns for those a provider cannot carry.
_SET: dict[str, Callable[[ImageRequest], bool]] = {
    "negative_prompt": lambda r: r.negative_prompt is not None,
    "seed": lambda r: r.seed is not None,
    "guide_scale": lambda r: r.guide_scale is not None,
    "steps": lambda r: r.steps is not None,
    "style": lambda r: r.style is not None,
    "style_preset": lambda r: r.style_preset is not None,
    "lora_strength": lambda r: r.lora_strength is not None,
    "enable_web_search": lambda r: bool(r.enable_web_search),
    "user": lambda r: r.user is not None,
}


def dropped(req: ImageRequest, fields: Iterable[str], *, by: str) -> list[str]:
    """A warning, in `fields` order, for each of them the request sets (the provider has no slot)."""
    return [f"{name}: not supported by {by}; dropped" for name in fields if _SET[name](req)]


def check_base_url(
    provider: str, url: str, *, allowed_hosts: Iterable[str] | None, allow_private: bool
) -> tuple[str, ...]:
    """The one base_url rule for every adapter, checked when the adapter is built (check-config):
    https, no credentials, a public address and (when the adapter has an allow-list) an allowed
    host, unless the operator set `allow_private_base_url: true` (a relay, a local test server):
    then http and private/loopback addresses are accepted too. Returns the hosts the adapter may
    call (the allow-list plus, when private is allowed, the base_url's own host)."""
    parsed = httpx.URL(url) if "://" in url else httpx.URL("")
    host = parsed.host
    hosts = tuple(allowed_hosts) if allowed_hosts is not None else (host,)
    if allow_private and host:
        hosts = (*hosts, host)
    try:
        # Userinfo in the operator's own base_url is basic auth for a relay, not a provider trick.
        bare = str(parsed.copy_with(username=None, password=None)) if host else url
        upstream.check_url(provider, bare, hosts, allow_http=allow_private, what="base_url")
    except ProviderError as exc:
        hint = "" if allow_private else " (set allow_private_base_url: true for a relay or local server)"
        raise AdapterSettingsError(exc.message + hint, "base_url") from None
    return hosts


class HostedSettings(Protocol):
    """The settings of an adapter that calls an allow-listed API and downloads its results."""

    @property
    def base_url(self) -> str: ...
    @property
    def api_hosts(self) -> list[str]: ...
    @property
    def download_hosts(self) -> list[str]: ...
    @property
    def allow_private_base_url(self) -> bool: ...
    @property
    def max_download_bytes(self) -> int: ...
    @property
    def download_timeout_seconds(self) -> float: ...


def hosted(provider: str, settings: HostedSettings) -> tuple[tuple[str, ...], upstream.DownloadPolicy]:
    """The hosts the adapter may call (`check_base_url`, refused at check-config rather than as a
    502 on every request) and the policy for its result downloads: the download allow-list plus,
    when private addresses are allowed, the base_url's own host (a relay or a local fake)."""
    private = settings.allow_private_base_url
    api_hosts = check_base_url(
        provider, settings.base_url, allowed_hosts=settings.api_hosts, allow_private=private
    )
    own = api_hosts[len(settings.api_hosts) :]
    download = upstream.DownloadPolicy(
        allowed_hosts=(*settings.download_hosts, *own),
        allow_http=private,
        max_bytes=settings.max_download_bytes,
        timeout=settings.download_timeout_seconds,
    )
    return api_hosts, download


def decode_settings(settings_type: type[S], settings: Mapping[str, object]) -> S:
    """Decode a provider's `settings:` mapping; errors carry the key path. Not strict about numbers
    and booleans written as text: a `${VAR}` value is always text (`timeout_seconds: ${T}`)."""
    try:
        return msgspec.convert(dict(settings), settings_type, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path = ""
        if " - at `$." in message:
            message, _, at = message.rpartition(" - at `$.")
            path = at.rstrip("`")
        raise AdapterSettingsError(message, path) from exc
