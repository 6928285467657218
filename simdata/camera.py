"""camera.json: intrinsics K and the pose, in the conventions robotics code expects.

Conventions (docs/contracts.md, "Datasets"):
- pixels: OpenCV's, (u, v) = (column, row), integer coordinates at pixel centres, origin
  at the centre of the top-left pixel; so an unshifted camera has cx = (W - 1) / 2.
- `world_to_camera_opencv`: 4x4, x right, y down, z forward (the view axis);
  `camera_to_world_blender`: 4x4, Blender's camera axes (x right, y up, looking down -z),
  exactly the camera object's `matrix_world`. Both row-major, metres, world +Z up.
- K from Blender's lens, sensor and fit: with fit AUTO the sensor width spans the larger
  image side. Square pixels are assumed unless the render says otherwise (fy scales).
"""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from simdata.facts import CameraFacts, RenderFacts

# Blender camera axes (x right, y up, -z forward) to OpenCV's (x right, y down, z forward).
BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


class CameraJson(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    K: list[list[float]]
    world_to_camera_opencv: list[list[float]]
    camera_to_world_blender: list[list[float]]
    position: list[float]  # camera centre in world coordinates, metres
    units: str = "metres"
    up_axis: str = "+Z"
    pixel_convention: str = "OpenCV: integer coordinates at pixel centres, origin at the top-left pixel's centre"
    depth: str = "z-depth along the optical axis (not ray length), metres"

    def k(self) -> np.ndarray:
        return np.asarray(self.K, dtype=np.float64)

    def w2c(self) -> np.ndarray:
        return np.asarray(self.world_to_camera_opencv, dtype=np.float64)


def intrinsics(cam: CameraFacts, render: RenderFacts) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) in pixels from Blender's camera, as Blender projects."""
    w, h = render.width, render.height
    aspect = render.pixel_aspect_y / render.pixel_aspect_x  # pixel height / width
    fit = cam.sensor_fit
    if fit == "AUTO":
        fit = "HORIZONTAL" if w * render.pixel_aspect_x >= h * render.pixel_aspect_y else "VERTICAL"
    sensor = cam.sensor_height_mm if cam.sensor_fit == "VERTICAL" else cam.sensor_width_mm  # Blender's rule
    view = w if fit == "HORIZONTAL" else h * aspect
    f_px = cam.lens_mm / sensor * view
    fx, fy = f_px, f_px / aspect
    cx = (w - 1) / 2 - cam.shift_x * view
    cy = (h - 1) / 2 + cam.shift_y * view / aspect
    return fx, fy, cx, cy


def camera_json(cam: CameraFacts, render: RenderFacts) -> CameraJson:
    fx, fy, cx, cy = intrinsics(cam, render)
    c2w = np.asarray(cam.matrix_world, dtype=np.float64).reshape(4, 4)
    rot = c2w[:3, :3]
    scale = np.linalg.norm(rot, axis=0)
    if np.any(scale < 1e-9):
        raise ValueError("the camera's matrix is degenerate")
    c2w_rigid = c2w.copy()
    c2w_rigid[:3, :3] = rot / scale  # a scaled camera object projects as an unscaled one
    w2c = BLENDER_TO_OPENCV @ np.linalg.inv(c2w_rigid)
    k = [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]
    return CameraJson(width=render.width, height=render.height, fx=fx, fy=fy, cx=cx, cy=cy, K=k,
                      world_to_camera_opencv=w2c.tolist(), camera_to_world_blender=c2w.tolist(),
                      position=c2w[:3, 3].tolist())


def project(camera: CameraJson, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points (N, 3) -> pixel coordinates (N, 2) and z-depth (N,)."""
    pts = np.c_[np.asarray(points, dtype=np.float64), np.ones(len(points))]
    cam = (camera.w2c() @ pts.T)[:3]
    uv = camera.k() @ cam
    with np.errstate(divide="ignore", invalid="ignore"):  # points on the camera plane: the caller checks z
        return (uv[:2] / uv[2]).T, cam[2]


def pixel_rays(camera: CameraJson, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-space ray (origin, direction with unit z-depth) through pixel centres (u, v)."""
    kinv = np.linalg.inv(camera.k())
    d_cam = kinv @ np.vstack([np.asarray(u, float), np.asarray(v, float), np.ones(np.size(u))])
    c2w = np.linalg.inv(camera.w2c())
    return c2w[:3, 3], (c2w[:3, :3] @ d_cam).T
