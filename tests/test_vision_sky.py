"""The segmentation's last check on sky (stages/vision/segment.py, _drop_doubtful_sky), on
an analysed image: a narrow smooth sky between facades survives the pale facade that the
first pass also called sky."""
from __future__ import annotations

import numpy as np
from PIL import Image

from stages.vision.image import analyse
from stages.vision.segment import SKY, VERTICAL, _drop_doubtful_sky


def _street_top():
    rng = np.random.default_rng(3)
    w, h = 128, 96
    img = np.full((h, w, 3), 110.0)
    img += rng.normal(0.0, 25.0, (h, w, 1))  # textured facades and ground
    img[:8, :24] = (150.0, 185.0, 235.0)  # a strip of clear sky at the top left
    img[:8, 24:60] = 200.0 + rng.normal(0.0, 30.0, (8, 36, 1))  # a pale, rough facade beside it
    pa = analyse(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)))
    return pa


def test_real_sky_survives_a_pale_facade_called_sky_beside_it():
    pa = _street_top()
    h, w = pa.shape
    labels = np.full((h, w), VERTICAL)
    labels[:8, :60] = SKY  # the first pass: sky and the pale facade together, 3.9 % of the photo
    sp = (np.arange(h)[:, None] // 4) * 100 + np.arange(w)[None, :] // 4  # superpixels: 4 x 4 blocks
    out = _drop_doubtful_sky(labels, pa, sp)
    sky_left = (out[:8, :22] == SKY).mean()
    facade = (out[:8, 26:60] == SKY).mean()
    assert sky_left > 0.9, sky_left
    assert facade < 0.1, facade
