"""The width and height of an image file, read from its header alone.

PNG, GIF and JPEG (what camp sites upload) are read here in a few bytes;
anything else goes to Pillow, which reads only the header too. An unreadable
file gives (None, None): the page then shows the image without its size.
"""

import struct

# JPEG start-of-frame markers: every SOFn but DHT (C4), JPG (C8) and DAC (CC).
SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
MAX_MARKERS = 256


def _jpeg_size(f):
    f.seek(2)
    for _ in range(MAX_MARKERS):
        head = f.read(4)
        if len(head) < 4 or head[0] != 0xFF:
            return None
        marker, length = head[1], struct.unpack(">H", head[2:])[0]
        if marker in SOF_MARKERS:
            frame = f.read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        f.seek(length - 2, 1)
    return None


def _quick_size(f):
    head = f.read(26)
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", head[6:10])
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(f)
    return None


def image_size(path):
    """Return (width, height) of the image at ``path``, or (None, None) if unknown."""
    try:
        with open(path, "rb") as f:
            size = _quick_size(f)
        if size is None:
            from PIL import Image  # here: only unusual formats need it

            with Image.open(path) as image:
                size = image.size
    except Exception:
        return None, None
    width, height = size
    return (width, height) if width > 0 and height > 0 else (None, None)
