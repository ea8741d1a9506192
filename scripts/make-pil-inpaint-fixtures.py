#!/usr/bin/python3
"""Writes tests/data/pil_inpaint/: small deterministic inputs and what PIL 9.4 and diffusers'
VaeImageProcessor (v0.30.3) make of them around inpainting — GaussianBlur, get_crop_region,
crop, _resize_and_fill, _resize_and_crop, apply_overlay and Image.resize(..., box=...) — as
lossless PNGs plus pil_inpaint.json (the cases, their parameters and the crop boxes).
tests/unit/test_inpaint_images.cpp checks src/image/inpaint_regions.cpp and pil_resize.cpp
against them byte for byte.

Run with Debian's python3-pil 9.4.0 (the PIL the project's goldens were made with) and numpy:
    /usr/bin/python3 scripts/make-pil-inpaint-fixtures.py      (from the repository root)
diffusers itself is not needed: the four VaeImageProcessor methods are transcribed below.
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageFilter, ImageOps

if PIL.__version__ != "9.4.0":
    sys.exit(f"PIL {PIL.__version__}: these fixtures must be made with PIL 9.4.0 (/usr/bin/python3)")

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "pil_inpaint"
LANCZOS = Image.Resampling.LANCZOS  # diffusers' PIL_INTERPOLATION["lanczos"] for PIL >= 9.1

# ---------------------------------------------------------------------------------------------
# Transcribed from diffusers' src/diffusers/image_processor.py, class VaeImageProcessor: blur,
# get_crop_region, _resize_and_fill, _resize_and_crop, resize (PIL branch) and apply_overlay,
# read at commit 02594f201fe2213d5e1aed09e5adc356a333eda5. The project's goldens use v0.30.3
# (commit c9ff360966327ace3faad3807dc871a4e5447501); these methods did not change meaningfully
# between the two. Only `self` is gone (resize's default mode uses the config's resample,
# "lanczos").
# ---------------------------------------------------------------------------------------------


def blur(image, blur_factor=4):
    image = image.filter(ImageFilter.GaussianBlur(blur_factor))
    return image


def get_crop_region(mask_image, width, height, pad=0):
    mask_image = mask_image.convert("L")
    mask = np.array(mask_image)

    # 1. find a rectangular region that contains all masked ares in an image
    h, w = mask.shape
    crop_left = 0
    for i in range(w):
        if not (mask[:, i] == 0).all():
            break
        crop_left += 1

    crop_right = 0
    for i in reversed(range(w)):
        if not (mask[:, i] == 0).all():
            break
        crop_right += 1

    crop_top = 0
    for i in range(h):
        if not (mask[i] == 0).all():
            break
        crop_top += 1

    crop_bottom = 0
    for i in reversed(range(h)):
        if not (mask[i] == 0).all():
            break
        crop_bottom += 1

    # 2. add padding to the crop region
    x1, y1, x2, y2 = (
        int(max(crop_left - pad, 0)),
        int(max(crop_top - pad, 0)),
        int(min(w - crop_right + pad, w)),
        int(min(h - crop_bottom + pad, h)),
    )

    # 3. expands crop region to match the aspect ratio of the image to be processed
    ratio_crop_region = (x2 - x1) / (y2 - y1)
    ratio_processing = width / height

    if ratio_crop_region > ratio_processing:
        desired_height = (x2 - x1) / ratio_processing
        desired_height_diff = int(desired_height - (y2 - y1))
        y1 -= desired_height_diff // 2
        y2 += desired_height_diff - desired_height_diff // 2
        if y2 >= mask_image.height:
            diff = y2 - mask_image.height
            y2 -= diff
            y1 -= diff
        if y1 < 0:
            y2 -= y1
            y1 -= y1
        if y2 >= mask_image.height:
            y2 = mask_image.height
    else:
        desired_width = (y2 - y1) * ratio_processing
        desired_width_diff = int(desired_width - (x2 - x1))
        x1 -= desired_width_diff // 2
        x2 += desired_width_diff - desired_width_diff // 2
        if x2 >= mask_image.width:
            diff = x2 - mask_image.width
            x2 -= diff
            x1 -= diff
        if x1 < 0:
            x2 -= x1
            x1 -= x1
        if x2 >= mask_image.width:
            x2 = mask_image.width

    return x1, y1, x2, y2


def _resize_and_fill(image, width, height):
    ratio = width / height
    src_ratio = image.width / image.height

    src_w = width if ratio < src_ratio else image.width * height // image.height
    src_h = height if ratio >= src_ratio else image.height * width // image.width

    resized = image.resize((src_w, src_h), resample=LANCZOS)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))

    if ratio < src_ratio:
        fill_height = height // 2 - src_h // 2
        if fill_height > 0:
            res.paste(resized.resize((width, fill_height), box=(0, 0, width, 0)), box=(0, 0))
            res.paste(
                resized.resize((width, fill_height), box=(0, resized.height, width, resized.height)),
                box=(0, fill_height + src_h),
            )
    elif ratio > src_ratio:
        fill_width = width // 2 - src_w // 2
        if fill_width > 0:
            res.paste(resized.resize((fill_width, height), box=(0, 0, 0, height)), box=(0, 0))
            res.paste(
                resized.resize((fill_width, height), box=(resized.width, 0, resized.width, height)),
                box=(fill_width + src_w, 0),
            )

    return res


def _resize_and_crop(image, width, height):
    ratio = width / height
    src_ratio = image.width / image.height

    src_w = width if ratio > src_ratio else image.width * height // image.height
    src_h = height if ratio <= src_ratio else image.height * width // image.width

    resized = image.resize((src_w, src_h), resample=LANCZOS)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    return res


def resize(image, height, width, resize_mode="default"):
    if resize_mode == "default":
        image = image.resize((width, height), resample=LANCZOS)
    elif resize_mode == "fill":
        image = _resize_and_fill(image, width, height)
    elif resize_mode == "crop":
        image = _resize_and_crop(image, width, height)
    else:
        raise ValueError(f"resize_mode {resize_mode} is not supported")
    return image


def apply_overlay(mask, init_image, image, crop_coords=None):
    width, height = image.width, image.height

    init_image = resize(init_image, width=width, height=height)
    mask = resize(mask, width=width, height=height)

    init_image_masked = PIL.Image.new("RGBa", (width, height))
    init_image_masked.paste(init_image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    init_image_masked = init_image_masked.convert("RGBA")

    if crop_coords is not None:
        x, y, x2, y2 = crop_coords
        w = x2 - x
        h = y2 - y
        base_image = PIL.Image.new("RGBA", (width, height))
        image = resize(image, height=h, width=w, resize_mode="crop")
        base_image.paste(image, (x, y))
        image = base_image.convert("RGB")

    image = image.convert("RGBA")
    image.alpha_composite(init_image_masked)
    image = image.convert("RGB")

    return image


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------
rng = np.random.RandomState(0)
W, H = 37, 29


def gradient_noise(w, h, noise, phase):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * xx / max(w - 1, 1)
    g = 255 * yy / max(h - 1, 1)
    b = 127.5 + 127.5 * np.sin((xx + 2 * yy) / 4.0 + phase)
    base = np.stack([r, g, b], axis=-1) + rng.uniform(-noise, noise, size=(h, w, 3))
    return Image.fromarray(np.clip(np.rint(base), 0, 255).astype(np.uint8), "RGB")


image = gradient_noise(W, H, 60, 0.0)
generated = gradient_noise(W, H, 40, 1.3).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
tall = gradient_noise(13, 31, 50, 0.7)
tiny = gradient_noise(3, 5, 100, 2.1)

# Grey mask: an elliptic blob with a soft edge (some 50 grey levels between 0 and 255),
# off-centre so that the grown crop regions hit different borders.
yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
d = np.sqrt(((xx - 23.0) / 8.0) ** 2 + ((yy - 11.0) / 5.5) ** 2)
mask_soft = Image.fromarray(np.clip(np.rint(255 * (1.3 - d) / 0.8), 0, 255).astype(np.uint8), "L")
# Binary mask: a small rectangle near the bottom-left corner plus a stray pixel.
m = np.zeros((H, W), np.uint8)
m[20:26, 3:9] = 255
m[17, 11] = 255
mask_binary = Image.fromarray(m, "L")
# Colour mask: pixels whose RGB is non-zero but whose luma (convert("L")) is 0 must not count.
c = np.zeros((H, W, 3), np.uint8)
c[2, 1] = (1, 0, 0)
c[27, 35] = (0, 0, 4)
c[0, 36] = (0, 1, 0)  # luma 1: counts
c[9:14, 12:20] = (200, 30, 90)
mask_colour = Image.fromarray(c, "RGB")

# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------
if OUT.exists():
    shutil.rmtree(OUT)
OUT.mkdir(parents=True)
inputs = {
    "image": image,
    "generated": generated,
    "tall": tall,
    "tiny": tiny,
    "mask_soft": mask_soft,
    "mask_binary": mask_binary,
    "mask_colour": mask_colour,
}


def save(img, name):
    img.save(OUT / name, format="PNG", compress_level=9)
    return name


cases = {"inputs": {}, "blur": [], "crop_region": [], "crop": [], "fill": [], "resize_crop": [],
         "overlay": [], "resize_box": []}
for name, img in inputs.items():
    cases["inputs"][name] = {"file": save(img, f"{name}.png"), "mode": img.mode,
                             "width": img.width, "height": img.height}

# GaussianBlur: the L mask and RGB images; 33 is larger than any side.
for src in ["mask_soft", "image", "tiny"]:
    radii = [0.5, 1, 2, 3.7, 8, 33] if src != "tiny" else [1, 3.7]
    for r in radii:
        out = blur(inputs[src], r)
        cases["blur"].append({"input": src, "radius": r,
                              "output": save(out, f"blur_{src}_r{str(r).replace('.', 'p')}.png")})

# get_crop_region: aspect ratios wider and taller than the mask's region, pads that reach the
# borders, ratios so extreme that the grown side is clamped to the image.
region_params = [(32, 32, 0), (64, 16, 0), (16, 64, 0), (48, 32, 4), (24, 40, 8),
                 (512, 512, 32), (40, 8, 2), (8, 40, 2), (30, 29, 1), (37, 29, 0)]
for src in ["mask_soft", "mask_binary", "mask_colour"]:
    for (w, h, pad) in region_params:
        box = get_crop_region(inputs[src], w, h, pad)
        cases["crop_region"].append({"mask": src, "width": w, "height": h, "pad": pad,
                                     "box": list(box)})

# PIL crop, including a box reaching outside the image (PIL fills with black), and the
# padding_mask_crop chain: crop then _resize_and_fill to the output size.
for i, box in enumerate([(14, 3, 33, 20), (0, 0, 37, 29), (-3, 25, 6, 33), (30, -2, 40, 4)]):
    out = image.crop(box)
    cases["crop"].append({"input": "image", "box": list(box), "output": save(out, f"crop_{i}.png")})
for i, (src, w, h, pad) in enumerate([("mask_soft", 24, 16, 2), ("mask_binary", 16, 24, 3)]):
    box = get_crop_region(inputs[src], w, h, pad)
    for what in ["image", src]:
        out = _resize_and_fill(inputs[what].convert("RGB").crop(box), w, h)
        cases["fill"].append({"input": what, "crop": list(box), "width": w, "height": h,
                              "output": save(out, f"cropfill_{i}_{what}.png")})

# _resize_and_fill / _resize_and_crop: targets wider and taller than the source (both fill
# branches, their zero-size-box edge resizes), equal ratio, a fill of zero rows.
fill_sizes = {
    "image": [(48, 20), (20, 40), (24, 24), (74, 58), (36, 29), (38, 30), (60, 8), (5, 33)],
    "tall": [(20, 20), (9, 40), (26, 62), (7, 12)],
}
for src, sizes in fill_sizes.items():
    for (w, h) in sizes:
        out = _resize_and_fill(inputs[src], w, h)
        cases["fill"].append({"input": src, "width": w, "height": h,
                              "output": save(out, f"fill_{src}_{w}x{h}.png")})
        out = _resize_and_crop(inputs[src], w, h)
        cases["resize_crop"].append({"input": src, "width": w, "height": h,
                                     "output": save(out, f"rcrop_{src}_{w}x{h}.png")})

# apply_overlay: grey-level masks (the alpha blend's rounding), a colour mask (its luma), with
# and without crop_coords. `generated` has the original's size (see README: diffusers resizes
# the original and the mask to the generated image's size).
overlay_params = [
    ("mask_soft", None),
    ("mask_binary", None),
    ("mask_colour", None),
    ("mask_soft", ("mask_soft", 24, 16, 2)),
    ("mask_soft", ("mask_soft", 8, 40, 1)),
    ("mask_binary", ("mask_binary", 16, 24, 3)),
]
for i, (mask_name, region) in enumerate(overlay_params):
    box = None if region is None else get_crop_region(inputs[region[0]], *region[1:])
    out = apply_overlay(inputs[mask_name], image, generated, box)
    cases["overlay"].append({"mask": mask_name, "init": "image", "generated": "generated",
                             "crop": None if box is None else list(box),
                             "output": save(out, f"overlay_{i}.png")})

# Image.resize(size, LANCZOS, box=...): down, up, zero-height / zero-width / zero-area boxes,
# an integer box of the output's size (PIL crops), fractional boxes (PIL takes them as float32).
box_params = [
    ((10, 8), (2, 3, 30, 25)),
    ((37, 29), (5, 4, 15, 12)),
    ((37, 5), (0, 0, 37, 0)),
    ((37, 5), (0, 29, 37, 29)),
    ((4, 29), (0, 0, 0, 29)),
    ((4, 29), (37, 0, 37, 29)),
    ((9, 3), (20, 7, 30, 7)),
    ((3, 3), (10, 10, 10, 10)),
    ((10, 10), (3, 4, 13, 14)),
    ((15, 11), (0.3, 1.7, 20.9, 15.2)),
    ((23, 17), (1.1, 0.1, 36.6, 28.35)),
    ((16, 25), (14.1742511, 4.2, 31.128415, 15.7273)),  # differ if the box is kept in doubles
    ((23, 6), (13.2571284, 21.8, 27.0654, 23.2478543)),
    ((20, 29), (0, 0, 37, 29)),
]
for i, (size, box) in enumerate(box_params):
    out = image.resize(size, LANCZOS, box=box)
    cases["resize_box"].append({"input": "image", "width": size[0], "height": size[1],
                                "box": list(box), "output": save(out, f"rbox_{i}.png")})

(OUT / "pil_inpaint.json").write_text(json.dumps(cases, indent=1) + "\n")

README = f"""# pil_inpaint — PIL 9.4 / diffusers 0.30.3 image operations around inpainting

Made by `scripts/make-pil-inpaint-fixtures.py` with Debian's python3-pil {PIL.__version__} and
numpy {np.__version__} (`/usr/bin/python3 scripts/make-pil-inpaint-fixtures.py`); diffusers is
not imported: its `VaeImageProcessor.blur`, `get_crop_region`, `_resize_and_fill`,
`_resize_and_crop`, `resize` and `apply_overlay` (`src/diffusers/image_processor.py`, read at
commit 02594f20; unchanged in substance from v0.30.3, commit c9ff3609, the goldens' version)
are transcribed in the script, and PIL does the pixel work.
Checked byte for byte by `tests/unit/test_inpaint_images.cpp` (suites `InpaintImages*`).

Inputs (deterministic; numpy `RandomState(0)` noise on gradients):
`image.png` 37×29 RGB, `generated.png` 37×29 RGB (a second "generated" image), `tall.png`
13×31 RGB, `tiny.png` 3×5 RGB, `mask_soft.png` 37×29 L (a soft-edged elliptic blob, some 50
grey levels), `mask_binary.png` 37×29 L (0/255: a rectangle near a corner and a stray pixel),
`mask_colour.png` 37×29 RGB (a few pixels whose RGB is non-zero but whose luma is 0).

`pil_inpaint.json` lists every case; each output is a lossless PNG (L for blurs of the L mask):
- `blur`: `img.filter(ImageFilter.GaussianBlur(radius))`;
- `crop_region`: `get_crop_region(mask, width, height, pad)` → `box` = [x1, y1, x2, y2];
- `crop`: `img.crop(box)` (boxes may reach outside: black);
- `fill`: `_resize_and_fill(img, width, height)`, or with `crop`, `_resize_and_fill(img.crop(crop), …)`
  (the padding_mask_crop preprocessing);
- `resize_crop`: `_resize_and_crop(img, width, height)`;
- `overlay`: `apply_overlay(mask, init, generated, crop)` (`crop` null: no crop_coords). The
  generated image has the original's size: diffusers resizes the original and the mask to the
  generated image's size, so only then does its result not depend on that resize;
- `resize_box`: `img.resize((width, height), Image.LANCZOS, box=box)`.
"""
(OUT / "README.md").write_text(README)
total = sum(p.stat().st_size for p in OUT.iterdir())
print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")
