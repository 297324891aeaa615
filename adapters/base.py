"""The adapter seam: one small Protocol every provider implements, and the registry of kinds.

An adapter is a pure translator: canonical request in, one provider HTTP exchange, `ProviderResult`
or a typed `ProviderError` out. It knows nothing of auth, Redis, retries or metrics.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import ClassVar, Protocol, TypeGuard, TypeVar

import httpx
import msgspec

from gateway import upstream
from gateway.canonical import CallContext, Capabilities, ImageRequest, ProviderResult, StreamUpdate
from gateway.errors import ProviderError


class ImageAdapter(Protocol):
    kind: ClassVar[str]  # the `adapter:` value in the routing YAML

    def capabilities(self, provider_model: str) -> Capabilities: ...

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult: ...

    async def aclose(self) -> None: ...


class StreamingImageAdapter(ImageAdapter, Protocol):
    """Optional: an adapter whose provider reports progress or previews while it works.

    `generate_stream` yields ProgressUpdate / PreviewImage items and then exactly one ProviderResult,
    which is the last item. Same failure contract as `generate` (typed ProviderError). Closing the
    iterator (or cancelling its consumer) must stop the upstream work: close the provider stream,
    stop polling, interrupt the job if it is ours.
    """

    def generate_stream(self, req: ImageRequest, ctx: CallContext) -> AsyncIterator[StreamUpdate]: ...


def supports_streaming(adapter: ImageAdapter) -> TypeGuard[StreamingImageAdapter]:
    return callable(getattr(adapter, "generate_stream", None))


class AdapterFactory(Protocol):
    kind: ClassVar[str]

    def __call__(
        self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient
    ) -> ImageAdapter: ...


class AdapterSettingsError(ValueError):
    """Provider settings failed to decode; `path` names the offending key below `settings`."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


_REGISTRY: dict[str, Callable[..., ImageAdapter]] = {}
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


A = TypeVar("A")


def register(kind: str) -> Callable[[type[A]], type[A]]:
    """Class decorator: make an adapter class constructible from the routing YAML by `kind`."""

    def wrap(cls: type[A]) -> type[A]:
        _REGISTRY[kind] = cls  # type: ignore[assignment]
        return cls

    return wrap


def adapter_kinds() -> list[str]:
    _load_builtin_adapters()
    return sorted(_REGISTRY)


def build_adapter(
    kind: str, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient
) -> ImageAdapter:
    _load_builtin_adapters()
    try:
        factory = _REGISTRY[kind]
    except KeyError:
        raise AdapterSettingsError(
            f"unknown adapter kind {kind!r}; expected one of {sorted(_REGISTRY)}"
        ) from None
    return factory(provider=provider, settings=settings, client=client)


class NoOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An adapter that takes no per-deployment `options`: any key is refused."""


def options_type(kind: str) -> type[msgspec.Struct]:
    """The Struct an adapter kind declares for a deployment's `options:` (its `options_type`)."""
    _load_builtin_adapters()
    factory = _REGISTRY.get(kind)
    declared = getattr(factory, "options_type", None)
    return declared if isinstance(declared, type) and issubclass(declared, msgspec.Struct) else NoOptions


def check_options(kind: str, options: Mapping[str, object]) -> None:
    """Validate a deployment's `options:` for its adapter (check-config / load); errors carry the key."""
    decode_settings(options_type(kind), options)


def decode_options(options_type: type[S], options: S | Mapping[str, object] | None) -> S:
    """A deployment's options as the adapter's Struct (already validated when the config loaded)."""
    if isinstance(options, options_type):
        return options
    return decode_settings(options_type, options if isinstance(options, Mapping) else {})


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


def _load_builtin_adapters() -> None:
    # Importing a module registers its adapter; done lazily so `adapters.base` has no cycles.
    import adapters.builtin  # noqa: F401
