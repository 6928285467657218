"""The camera from the photo: roll, pitch and yaw from the vanishing points and the horizon,
focal length from two orthogonal vanishing points weighed against a prior, height from a
prior that known-size objects (cars) then refine (things.py).

Each estimate says where it came from, so a reconstruction can be judged (and the report
can say why a photo failed): the focal length is the prior unless the street's and the
vertical vanishing points pin it down better than the prior's own spread.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from stages.photo import SENSOR_MM
from stages.vision.camera import PinholeCamera
from stages.vision.horizon import HorizonEstimate
from stages.vision.image import PhotoArrays
from stages.vision.vanishing import EdgeField, VanishingPoint, VerticalLean, edge_field, street_vanishing_point, vertical_lean

HORIZON_SIGMA_PX = 1.0  # how well (analysis pixels) the vanishing point fixes the horizon


class CameraPrior(BaseModel):
    """What a camera is before the photo says otherwise (config: `reconstruct.offline.camera`)."""

    model_config = ConfigDict(extra="forbid")
    focal_mm: float = Field(29.0, gt=5, le=300, description="36 mm-equivalent focal length of the prior "
                                                            "(29: the middle of 24-35 mm in log)")
    focal_log_sigma: float = Field(0.12, gt=0, le=2, description="spread of the prior in log focal length")
    height_m: float = Field(2.12, gt=0.1, le=100, description="camera height above the ground outdoors (2.12: the "
                                                               "middle of 1.5-3 m in log, from a hand-held camera "
                                                               "to one on a car's roof)")
    indoor_height_m: float = Field(1.3, gt=0.1, le=10, description="camera height when no sky is in view")
    height_log_sigma: float = Field(0.2, gt=0, le=2, description="spread of the height prior in log")
    road_width_m: float = Field(8.5, gt=1, le=60, description="a street's carriageway width, kerb to kerb (8.5: the "
                                                               "middle of 6-12 m in log, two lanes of 3-3.5 m "
                                                               "with or without parking strips); "
                                                               "the road's width read in the photo corrects the "
                                                               "camera height towards it (stages.vision.scale)")
    road_width_log_sigma: float = Field(0.25, gt=0, le=2, description="spread of the road width prior in log, "
                                                                      "with the error of reading it")

    height_known: bool = Field(False, description="the height is known (a fleet's rig): the things of known "
                                                  "size (cars, the road's width) do not move it; per image, "
                                                  "the manifest's camera_height_m says so")

    def stating_height(self, height_m: float) -> "CameraPrior":
        """This prior with the camera height its caller states (stages.photo: a manifest column,
        `--camera-height`), outdoors and in, known: no cue of stages.vision.scale moves it."""
        return self.model_copy(update={"height_m": height_m, "indoor_height_m": height_m, "height_known": True})


@dataclass
class CameraFit:
    camera: PinholeCamera
    vp: VanishingPoint | None
    lean: VerticalLean | None
    focal_source: str  # "prior", "stated" (EXIF, manifest, CLI) or "vanishing points (weight w)"
    horizon_source: str
    height_source: str = "prior"

    def describe(self) -> str:
        c = self.camera
        return (f"camera f {c.focal_mm:.1f} mm ({self.focal_source}), pitch {c.pitch_deg:.1f}, yaw {c.yaw_deg:.1f}, "
                f"roll {c.roll_deg:.1f} deg, height {c.height_m:.2f} m ({self.height_source}); "
                f"horizon from {self.horizon_source}")


def _solve_rotation(width: int, height: int, focal_mm: float, roll: float, vp_col: float, vp_row: float,
                    height_m: float) -> tuple[float, float]:
    """Pitch and yaw that put the street direction (+Y) on the vanishing point, for this roll
    (Gauss-Newton on the two angles; converges in a few steps from level)."""
    pitch, yaw = 0.0, 0.0
    target = np.array([vp_col, vp_row])
    far = np.array([0.0, 1e6, height_m])
    for _ in range(12):
        def at(p, y):
            cam = PinholeCamera(width, height, focal_mm, SENSOR_MM, p, height_m, y, roll)
            c, r, _ = cam.project(far)
            return np.array([float(c), float(r)])
        cur = at(pitch, yaw)
        err = cur - target
        if np.abs(err).max() < 1e-3:
            break
        jac = np.stack([(at(pitch + 1e-3, yaw) - cur) / 1e-3, (at(pitch, yaw + 1e-3) - cur) / 1e-3], 1)
        step = np.linalg.lstsq(jac, -err, rcond=None)[0]
        pitch = float(np.clip(pitch + step[0], -85, 60))
        yaw = float(np.clip(yaw + step[1], -80, 80))
    return pitch, yaw


def fit_camera(pa: PhotoArrays, horizon: HorizonEstimate, prior: CameraPrior, outdoor: bool,
               edges: EdgeField | None = None, upright_mask: np.ndarray | None = None,
               stated_focal_mm: float | None = None) -> CameraFit:
    """Roll from vertical lines; pitch and yaw from the street's vanishing point when it sits
    where the labels allow the horizon (else pitch from the horizon estimate, yaw 0); focal
    length fused from the prior and the orthogonal vanishing points, unless the photo states
    it (`stated_focal_mm`, from its EXIF: stages.photo), which is taken as it is."""
    h, w = pa.shape
    e = edges or edge_field(pa)
    vp = street_vanishing_point(pa, e)
    lean = vertical_lean(pa, e, upright_mask)
    roll = float(np.clip(lean.roll_deg, -10, 10)) if lean is not None else 0.0
    cam_h = prior.height_m if outdoor else prior.indoor_height_m
    focal = stated_focal_mm or prior.focal_mm
    f_px = focal / SENSOR_MM * max(w, h)
    plausible = vp is not None and _fits_horizon(vp.row, horizon, 4.0 + 40.0 * max(0.0, vp.share - 0.1)) \
        and -w <= vp.col <= 2 * w
    horizon_source = "street vanishing point" if plausible else horizon.source
    centre_row = (vp.row - (w / 2 - 0.5 - vp.col) * math.tan(math.radians(roll))) if plausible else horizon.row
    focal_source = "stated" if stated_focal_mm else "prior"
    v_h = h / 2 - (centre_row + 0.5)  # horizon above the centre (pixels, v up)
    if not stated_focal_mm and lean is not None and abs(lean.c1) > 1e-7 and v_h / lean.c1 > 0:
        f_meas = math.sqrt(v_h / lean.c1)
        sigma = 0.5 * math.hypot(HORIZON_SIGMA_PX / max(abs(v_h), 1e-6), lean.sigma_c1 / abs(lean.c1))
        if math.isfinite(sigma) and sigma < 1.0:
            w_meas = prior.focal_log_sigma**2 / (prior.focal_log_sigma**2 + sigma**2)
            f_px = math.exp((1 - w_meas) * math.log(f_px) + w_meas * math.log(f_meas))
            focal = float(np.clip(f_px / max(w, h) * SENSOR_MM, 10.0, 120.0))
            focal_source = f"vanishing points (weight {w_meas:.2f})"
    if plausible:
        pitch, yaw = _solve_rotation(w, h, focal, roll, vp.col, vp.row, cam_h)
    else:
        f_px = focal / SENSOR_MM * max(w, h)
        pitch = float(np.clip(math.degrees(math.atan2(-(h / 2 - (horizon.row + 0.5)), f_px)), -85.0, 60.0))
        yaw = 0.0
    camera = PinholeCamera(w, h, round(focal, 3), SENSOR_MM, round(pitch, 3), cam_h, round(yaw, 3), round(roll, 3))
    return CameraFit(camera, vp if plausible else None, lean, focal_source, horizon_source,
                     "stated" if prior.height_known else "prior")


def _fits_horizon(row: float, horizon: HorizonEstimate, slack: float = 4.0) -> bool:
    """A vanishing point on the horizon lies below every sky pixel and above every ground one,
    with slack for haze and labelling errors (more for a point many lines agree on)."""
    if horizon.sky_bottom is not None and row < horizon.sky_bottom - slack:
        return False
    if horizon.ground_top is not None and row > horizon.ground_top + slack:
        return False
    return True
