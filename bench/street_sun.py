"""How well the street reading finds the sun: the shadow fit's azimuth, and the sun's
strength, against the truth.

The first program's sun comes from stages/vision/sun.py's `estimate_sun` (the sun whose
shadows, traced on the reconstructed solids, best explain the photo's brightness), trusted
only when it explains enough (photo_to_scene.SUN_MIN_GAIN); otherwise a left/right balance
guess places it. For each synthetic street (the photos of bench/street.py, rendered if
missing) this prints the fit's and the used sun's azimuth and elevation against the truth,
and counts the streets within 30 degrees of the true azimuth; then the strength the light
fit gives the sun (photo_to_scene: the sun's share of the light balanced against the sky
fitted to the photo) and the streets whose sun it switches off (below the lighting stage's
SUN_OFF, which its raise switches back on).

    .venv/bin/python bench/street_sun.py [--seeds 100-119]
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from street import street_shots  # noqa: E402
from scene_program.reader import read_scene  # noqa: E402
from stages.backends.offline import SUN_OFF, OfflineConfig  # noqa: E402
from stages.vision import photo_to_scene  # noqa: E402

WITHIN_DEG = 30.0


def _off(a: float, b: float) -> float:
    return (a - b + 180.0) % 360.0 - 180.0


def main() -> int:
    shots = street_shots(__doc__, "100-119")
    fits = []
    real = photo_to_scene.estimate_sun

    def recorded(*a, **k):  # the fit as the reading made it, whether or not it was trusted
        fits.append(real(*a, **k))
        return fits[-1]

    photo_to_scene.estimate_sun = recorded
    n = fit_ok = trusted = trusted_ok = used_ok = switched_off = strength_ok = 0
    for seed, program, photo in shots:
        true = read_scene(program).lighting.sun
        fits.clear()
        r = photo_to_scene.read_photo(photo.image, OfflineConfig().camera, photo.focal_mm)
        est = fits[0] if fits else None
        used = _off(r.sun.azimuth_deg, true.azimuth_deg)
        n += 1
        used_ok += abs(used) < WITHIN_DEG
        strength = r.light.sun_strength
        switched_off += strength < SUN_OFF
        strength_ok += abs(strength / true.strength - 1) < 0.25
        fit = "no fit"
        if est is not None:
            off = _off(est.azimuth_deg, true.azimuth_deg)
            trust = est.gain > photo_to_scene.SUN_MIN_GAIN
            fit_ok += abs(off) < WITHIN_DEG
            trusted += trust
            trusted_ok += trust and abs(off) < WITHIN_DEG
            fit = (f"fit az {est.azimuth_deg:6.1f} ({off:+6.1f}) el {est.elevation_deg:4.1f} gain {est.gain:.2f}"
                   f"{' trusted' if trust else ''}")
        print(f"street_{seed}: true az {true.azimuth_deg:6.1f} el {true.elevation_deg:4.1f} | {fit} | used az "
              f"{r.sun.azimuth_deg:6.1f} ({used:+6.1f}) el {r.sun.elevation_deg:4.1f} | strength {strength:.2f}, true "
              f"{true.strength:.2f}")
    print(f"{n} streets, azimuth within {WITHIN_DEG:.0f} degrees of the truth: shadow fit {fit_ok}, trusted "
          f"{trusted} (right {trusted_ok}), sun used {used_ok} (chance about {n * WITHIN_DEG / 180:.1f}); strength "
          f"within 25 % on {strength_ok}, the sun switched off (under {SUN_OFF}) on {switched_off}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
