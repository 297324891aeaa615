"""Edit inputs as the providers want them (pure, no I/O): base64 text, the mask converted from the
canonical convention (image-edit.md: alpha 0 = edit, opaque = keep) to the one BFL Fill, A1111 and
ComfyUI read (a grayscale picture, white = edit, black = keep), content-addressed upload names, and
the warnings for the edit fields a provider has no slot for.

The gateway checked every input before the adapter sees it (decodable, within the pixel caps, the
mask the base image's size), so decoding here cannot be a bomb; a mask that still fails to decode
is a CALLER_FAULT.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from gateway.b64 import b64encode
from gateway.canonical import ImageRequest, InputImage
from gateway.errors import FailureClass, ProviderError

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
NO_ALPHA = "mask: has no alpha channel, so no pixel is transparent; nothing is marked for editing"


def b64(data: bytes) -> str:
    """Plain base64 (no data: prefix) of an input's bytes as the client sent them, or of a mask."""
    return b64encode(data)


def white_is_edit(provider: str, mask: InputImage) -> tuple[bytes, list[str]]:
    """The canonical mask as a one-channel ("L") PNG of the same size with value 255 - alpha:
    transparent (alpha 0) -> white 255 = edit, opaque (255) -> black 0 = keep, partial alpha ->
    the matching grey (a soft edge stays soft). A mask without alpha is all opaque: all black,
    with a warning."""
    try:
        with Image.open(io.BytesIO(mask.data)) as opened:
            opened.load()
            image = opened.convert("RGBA") if _has_alpha(opened) else None
            size = opened.size
    except _DECODE_ERRORS as exc:
        raise ProviderError(provider, FailureClass.CALLER_FAULT, "mask: not a decodable image") from exc
    warnings: list[str] = []
    if image is None:
        converted = Image.new("L", size, 0)
        warnings.append(NO_ALPHA)
    else:
        converted = image.getchannel("A").point(lambda alpha: 255 - alpha)
    out = io.BytesIO()
    converted.save(out, format="PNG")
    return out.getvalue(), warnings


def full_mask(width: int, height: int) -> bytes:
    """An all-white (edit everything) mask: plain img2img through an inpainting graph."""
    out = io.BytesIO()
    Image.new("L", (width, height), 255).save(out, format="PNG")
    return out.getvalue()


def upload_name(data: bytes, media_type: str, *, kind: str = "image") -> str:
    """A content-addressed file name: the same bytes get the same name on every retry, so an
    overwrite is harmless and two requests never clobber each other's inputs."""
    digest = hashlib.sha256(data).hexdigest()[:24]
    return f"imagegate-{kind}-{digest}.{_EXTENSIONS.get(media_type, 'png')}"


def unsupported(req: ImageRequest, *, by: str, strength: bool, prompt_extend: bool) -> list[str]:
    """Warnings for the edit-only scalar fields the provider cannot carry (`watermark: true` is a
    request to add one; false asks for what every provider here does anyway)."""
    warnings = []
    if req.strength is not None and not strength:
        warnings.append(f"strength: not supported by {by}; dropped")
    if req.prompt_extend is not None and not prompt_extend:
        warnings.append(f"prompt_extend: not supported by {by}; dropped")
    if req.watermark:
        warnings.append(f"watermark: not supported by {by}; dropped")
    return warnings


def too_many(provider: str, req: ImageRequest, limit: int, *, what: str) -> ProviderError | None:
    """A CALLER_FAULT when the request has more input images than the model takes (the executor
    filters by capabilities first; this guards a direct call)."""
    if len(req.images) <= limit:
        return None
    message = f"{what} takes at most {limit} input image{'s' if limit != 1 else ''}; got {len(req.images)}"
    return ProviderError(provider, FailureClass.CALLER_FAULT, message)


def base_size(req: ImageRequest) -> tuple[int, int]:
    base = req.images[0]
    return base.width, base.height


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
