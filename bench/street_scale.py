"""Where the street depth error comes from: the camera scale each reading ends at.

A ground point's depth is the camera height times the focal length over its rows below the
horizon, so a reading whose height or focal length is off puts every depth off by the
same factor. For each synthetic street (the photos of bench/street.py, rendered if
missing) this prints the true and read camera height, focal length and road width, and
counts the streets whose height, focal length and their product are within 25 % (the
depth score's δ<1.25) of the truth. The road width is read at the reading's final height
(stages/vision/scale.py uses it, read at the prior, as a cue to the height).

    .venv/bin/python bench/street_scale.py [--seeds 100-119,9005-9012] [--exif-focal]
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from street import street_shots  # noqa: E402
from scene_program.reader import read_scene  # noqa: E402
from stages.backends.offline import OfflineConfig  # noqa: E402
from stages.vision.photo_to_scene import read_photo  # noqa: E402

WITHIN = math.log(1.25)


def main() -> int:
    shots = street_shots(__doc__, "100-119,9005-9012")
    ok = {"height": 0, "focal": 0, "both": 0}
    n = 0
    for seed, program, photo in shots:
        truth = read_scene(program)
        cam = truth.composition.camera
        road = next(o for o in truth.geometry.objects if o.name == "road")
        r = read_photo(photo.image, OfflineConfig().camera, photo.focal_mm)
        eh = math.log(r.camera.height_m / cam.location[2])
        ef = math.log(r.camera.focal_mm / cam.focal_mm)
        width = "-"
        if r.street is not None:
            x0, x1 = r.street.section.road_extent()
            width = f"{x1 - x0:.1f}"
        print(f"street_{seed}: {r.mode:7} height {cam.location[2]:.2f} read {r.camera.height_m:.2f} ({eh:+.2f}) "
              f"focal {cam.focal_mm:.1f} read {r.camera.focal_mm:.1f} ({ef:+.2f}) scale {eh + ef:+.2f} "
              f"road {road.size[0]:.1f} read {width} | {r.fit.height_source}")
        n += 1
        ok["height"] += abs(eh) < WITHIN
        ok["focal"] += abs(ef) < WITHIN
        ok["both"] += abs(eh + ef) < WITHIN
    print(f"within 25 % of the truth, {n} streets: height {ok['height']}, focal length {ok['focal']}, "
          f"height x focal length (the depth scale) {ok['both']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
