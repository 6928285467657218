"""A numpy preview of what the initial scene will render: flat-shaded, no shadows, no noise.

It puts together the ray caster (which object each pixel sees), the fitted albedos and
the shading model, so the vision steps can be judged against the photo in milliseconds
(tests, the bench's diagnostics) instead of a Blender render per try. It includes the traced
occlusion and one bounce (occlusion.py) but not the procedural noise, so it reads a little higher
than the real render; the gap is reported by bench/vision_initial.py.
"""
from __future__ import annotations

import numpy as np

from stages.vision.image import linear_to_srgb
from stages.vision.colours import face_shades
from stages.vision.shading import gloss_fraction, rendered


def preview(reading) -> np.ndarray:
    """sRGB (H, W, 3) in [0, 1] on the analysis grid for a photo_to_scene.Reading."""
    hits = reading.hits
    light = reading.light
    dirs = reading.camera.grid_rays()
    out = light.sky(dirs)
    for i, st in enumerate(reading.stats):
        if st is None:
            continue
        mask = hits.index == i
        n = hits.normal[mask]
        albedo = np.clip(st.albedo, 0.0, 1.0)
        faces = reading.visibility.shading(i, light, reading.radiance)
        out[mask] = rendered(albedo, face_shades(n, light, faces), gloss_fraction(n, dirs[mask], st.roughness))
    return linear_to_srgb(out)
