"""Draw the pictures of docs/editing.md (deterministic; tests/acceptance/test_edit.py checks the
committed files are exactly what this script draws):

    docs/images/edit-base.png          the base image of the examples (256x192)
    docs/images/edit-mask.png          the mask: opaque everywhere, transparent (alpha 0) over the door
    docs/images/edit-mask-preview.png  the mask over a checkerboard, so the transparent hole shows
    docs/images/edit-result.png        what the mock provider makes of it (prompt "a red door", seed 7)

Run: python scripts/make_edit_doc_images.py
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.mock_edit import render_edit  # noqa: E402
from gateway.canonical import OutputFormat  # noqa: E402

SIZE = (256, 192)
DOOR = (112, 104, 144, 168)  # the area the mask opens for editing
PROMPT, SEED = "a red door", 7


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def base() -> bytes:
    image = Image.new("RGB", SIZE, (150, 200, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 168, 256, 192), fill=(80, 150, 70))  # grass
    draw.rectangle((72, 88, 184, 168), fill=(230, 220, 190))  # wall
    draw.polygon([(60, 92), (128, 40), (196, 92)], fill=(150, 60, 50))  # roof
    draw.rectangle(DOOR, fill=(110, 80, 50))  # the door
    draw.rectangle((84, 108, 104, 128), fill=(120, 170, 210))  # window
    return _png(image)


def mask() -> bytes:
    image = Image.new("RGBA", SIZE, (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), DOOR)
    return _png(image)


def mask_preview() -> bytes:
    board = Image.new("RGB", SIZE, (255, 255, 255))
    draw = ImageDraw.Draw(board)
    for x in range(0, SIZE[0], 8):
        for y in range(0, SIZE[1], 8):
            if (x // 8 + y // 8) % 2:
                draw.rectangle((x, y, x + 7, y + 7), fill=(200, 200, 200))
    with Image.open(io.BytesIO(mask())) as layer:
        board.paste(layer.convert("RGB"), (0, 0), layer.getchannel("A"))
    return _png(board)


def result() -> bytes:
    return render_edit(base(), mask(), (), PROMPT, SEED, SIZE, OutputFormat.PNG)


PICTURES = {
    "edit-base.png": base,
    "edit-mask.png": mask,
    "edit-mask-preview.png": mask_preview,
    "edit-result.png": result,
}


def main() -> None:
    for name, draw in PICTURES.items():
        (ROOT / "docs" / "images" / name).write_bytes(draw())


if __name__ == "__main__":
    main()
