"""The mock double's edit (adapters/mock.py, mock_translate.encode_edit, mock_edit.render_edit):
drawn over the base, inside the mask, with the references; the base's size unless one is asked."""

from __future__ import annotations

import dataclasses
import io

import httpx
from PIL import Image

from adapters.mock import MockAdapter
from adapters.mock_edit import edit_colour, render_edit
from adapters.mock_translate import MockSettings, encode_edit
from gateway.canonical import ImageRequest, InputImage, OutputFormat, PreviewImage, ProgressUpdate, Update
from tests.fakes.base import ctx
from tests.support.edit import mask_png, picture

GREEN = (10, 160, 40)


def image(data: bytes) -> InputImage:
    with Image.open(io.BytesIO(data)) as opened:
        return InputImage(data=data, media_type="image/png", width=opened.width, height=opened.height)


def request(**extra: object) -> ImageRequest:
    fields: dict[str, object] = {
        "model": "m",
        "prompt": "p",
        "seed": 3,
        "images": (image(picture((120, 80), GREEN)),),
    }
    fields.update(extra)
    return ImageRequest(**fields)  # type: ignore[arg-type]


def test_encode_edit_keeps_the_base_size_scaled_into_max_side() -> None:
    call, warnings = encode_edit(request(strength=0.5), model="m")
    assert (call.width, call.height) == (120, 80) and call.base is not None and call.mask is None
    assert warnings == ["strength: not used by the mock provider; dropped"]
    small, warnings = encode_edit(request(), model="m", settings=MockSettings(max_side=100))
    assert (small.width, small.height) == (100, 67) and warnings  # scaled, with the size warning
    asked, _ = encode_edit(request(width=256, height=256), model="m")
    assert (asked.width, asked.height) == (256, 256)


def test_capabilities_follow_the_settings() -> None:
    client = httpx.AsyncClient()
    default = MockAdapter(provider="m", settings={}, client=client).capabilities("x")
    assert (default.edit, default.max_input_images, default.edit_mask) == (True, 16, True)
    off = MockAdapter(provider="m", settings={"edit": False}, client=client).capabilities("x")
    assert (off.edit, off.max_input_images, off.edit_mask) == (False, 0, False)


async def test_streamed_edit_reports_progress_and_previews_of_the_edit() -> None:
    adapter = MockAdapter(
        provider="m", settings={"stream_steps": 2, "stream_previews": 1}, client=httpx.AsyncClient()
    )
    updates: list[Update] = []
    mask = image(mask_png((120, 80), (0, 0, 60, 80)))
    result = await adapter.edit(
        request(mask=mask), dataclasses.replace(ctx("mock-v1"), report=updates.append)
    )
    assert [u.step for u in updates if isinstance(u, ProgressUpdate)] == [0, 1, 2]
    (preview,) = [u for u in updates if isinstance(u, PreviewImage)]
    with Image.open(io.BytesIO(preview.data)) as coarse:
        assert coarse.format == "JPEG"
    with Image.open(io.BytesIO(result.images[0].data)) as final:
        rgb = final.convert("RGB")
        assert rgb.size == (120, 80)
        assert rgb.getpixel((100, 40)) == GREEN  # outside the mask's hole: the base
        assert rgb.getpixel((20, 40)) == edit_colour("p", 3)  # inside: the edit
    assert adapter.edits == 1


def test_a_palette_mask_with_a_transparent_index_marks_the_edit() -> None:
    """PNG masks come as RGBA, LA or a palette with tRNS: each one's alpha 0 is the edit area."""
    palette = Image.new("P", (120, 80), 1)
    palette.putpalette([0, 0, 0, 255, 255, 255])
    palette.paste(0, (0, 0, 60, 80))  # index 0 is transparent (tRNS)
    out = io.BytesIO()
    palette.save(out, format="PNG", transparency=0)
    call, _ = encode_edit(request(mask=image(out.getvalue())), model="m")
    assert call.mask == out.getvalue()
    drawn = render_edit(call.base or b"", call.mask, (), "p", 3, (120, 80), OutputFormat.PNG)
    with Image.open(io.BytesIO(drawn)) as result:
        rgb = result.convert("RGB")
        assert rgb.getpixel((20, 40)) == edit_colour("p", 3) and rgb.getpixel((100, 40)) == GREEN
