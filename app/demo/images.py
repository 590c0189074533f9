"""Generated demo images: photo-like JPEGs, flat PNG graphics and tiny previews.

A demo photo is a small drawn landscape (sky, sun, hills) scaled up and mixed
with random noise, saved as a high-quality JPEG. The noise makes the files as
incompressible as real photos, so archives of a demo site are as large as
archives of a real one; the drawing keeps them pleasant to look at. Every
byte comes from the caller's ``random.Random``, so a seed gives the same files.
"""

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageDraw

JPEG_QUALITY = 92
NOISE_WEIGHT = 0.4
# Measured for the settings above: the JPEG is about this many bytes per pixel.
# Used to pick the pixel size that gives a wanted file size.
JPEG_BYTES_PER_PIXEL = 1.39
MIN_SIDE = 64
MAX_SIDE = 6000
PREVIEW_BOX = (96, 96)
SKETCH = (160, 120)


@dataclass
class GeneratedImage:
    """An encoded image file and its preview."""

    data: bytes
    mime_type: str
    width: int
    height: int
    preview: bytes


def _color(rng, low, high):
    return tuple(rng.randrange(low, high) for _ in range(3))


def _landscape(rng, size):
    """Draw a small landscape and scale it to ``size``."""
    w, h = SKETCH
    sky = Image.composite(
        Image.new("RGB", SKETCH, _color(rng, 150, 256)),
        Image.new("RGB", SKETCH, _color(rng, 40, 200)),
        Image.linear_gradient("L").resize(SKETCH),
    )
    draw = ImageDraw.Draw(sky)
    cx, cy, r = rng.randrange(w), rng.randrange(h // 2), rng.randrange(6, 20)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_color(rng, 220, 256))
    for layer in range(3):
        base = h * (0.45 + 0.17 * layer)
        ridge = [(x, base + rng.uniform(-18, 18)) for x in range(0, w + 20, 20)]
        draw.polygon([(0, h), *ridge, (w, h)], fill=_color(rng, 15, 130))
    return sky.resize(size, Image.Resampling.BILINEAR)


def _preview(image):
    """Return a small JPEG of ``image`` (a few KB)."""
    thumb = image.copy()
    thumb.thumbnail(PREVIEW_BOX)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=60)
    return out.getvalue()


def photo_size_for(target_bytes, rng):
    """Return a (width, height) whose demo JPEG is about ``target_bytes`` long."""
    pixels = max(target_bytes / JPEG_BYTES_PER_PIXEL, MIN_SIDE * MIN_SIDE)
    aspect = rng.choice((4 / 3, 3 / 2, 16 / 9, 3 / 4, 1.0))
    width = round(math.sqrt(pixels * aspect))
    height = round(pixels / width)
    return (max(MIN_SIDE, min(MAX_SIDE, width)), max(MIN_SIDE, min(MAX_SIDE, height)))


def photo(rng, size):
    """Return a photo-like JPEG of ``size`` pixels, as incompressible as a real photo."""
    scene = _landscape(rng, size)
    noise = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    image = Image.blend(scene, noise, NOISE_WEIGHT)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    return GeneratedImage(out.getvalue(), "image/jpeg", *size, _preview(scene))


def graphic(rng, size, label):
    """Return a flat PNG graphic (a logo or a map) with ``label`` written on it."""
    image = Image.new("RGB", size, _color(rng, 200, 256))
    draw = ImageDraw.Draw(image)
    w, h = size
    for _ in range(rng.randrange(3, 8)):
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.randrange(min(w, h) // 12 + 2, min(w, h) // 4 + 3)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x - r, y - r, x + r, y + r), fill=_color(rng, 30, 200))
    for _ in range(rng.randrange(2, 5)):
        points = [(rng.randrange(w), rng.randrange(h)) for _ in range(4)]
        draw.line(points, fill=_color(rng, 0, 90), width=max(1, w // 120))
    draw.rectangle((0, h - h // 6, w, h), fill=(255, 255, 255))
    draw.text((w // 20, h - h // 8), label, fill=(20, 20, 20), font_size=max(10, h // 14))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False, compress_level=6)
    return GeneratedImage(out.getvalue(), "image/png", w, h, _preview(image))
