"""The pinhole camera exactly as scene_program.builders sets it up, in numpy.

Blender's camera object gets `rotation_euler = (90 + pitch, roll, yaw)` (XYZ order, so
world = Rz(yaw) Ry(roll) Rx(90 + pitch) local): yaw = pitch = roll = 0 looks along +Y,
pitch > 0 tilts it up, yaw > 0 turns it left (towards -X). With the default AUTO sensor fit
the sensor width spans the image's *longer* side. Every 3D placement in the vision backend
and every depth or label map of the benchmark goes through this one model, so an object
put where a pixel's ray meets the ground renders on that pixel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FAR = 600.0  # metres: where rays at or above the horizon are said to meet the ground


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class PinholeCamera:
    width: int  # pixels of the grid the rays are cast for
    height: int
    focal_mm: float = 30.0
    sensor_mm: float = 36.0
    pitch_deg: float = 0.0
    height_m: float = 1.6  # camera z above the ground plane
    yaw_deg: float = 0.0
    roll_deg: float = 0.0
    x_m: float = 0.0  # camera position across the street
    y_m: float = 0.0  # and along it

    @property
    def f_px(self) -> float:
        """Focal length in pixels: the sensor width fits the longer image side (AUTO fit)."""
        return self.focal_mm / self.sensor_mm * max(self.width, self.height)

    @property
    def rotation(self) -> np.ndarray:
        """Camera -> world rotation (columns: the camera's local x, y, z axes in the world)."""
        return (_rot_z(math.radians(self.yaw_deg)) @ _rot_y(math.radians(self.roll_deg))
                @ _rot_x(math.radians(90.0 + self.pitch_deg)))

    @property
    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right, up, forward) unit vectors in world coordinates."""
        r = self.rotation
        return r[:, 0], r[:, 1], -r[:, 2]

    @property
    def origin(self) -> np.ndarray:
        return np.array([self.x_m, self.y_m, self.height_m])

    def with_size(self, width: int, height: int) -> "PinholeCamera":
        """The same camera rendering a grid of another size (same field of view)."""
        return PinholeCamera(width, height, self.focal_mm, self.sensor_mm, self.pitch_deg, self.height_m,
                             self.yaw_deg, self.roll_deg, self.x_m, self.y_m)

    def sensor_coords(self, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel centres (col, row from the top) -> (u right, v up) in pixels from the centre."""
        return (np.asarray(col, dtype=np.float64) + 0.5 - self.width / 2,
                self.height / 2 - (np.asarray(row, dtype=np.float64) + 0.5))

    def rays(self, col: np.ndarray, row: np.ndarray) -> np.ndarray:
        """Unit ray directions (..., 3) through pixel centres."""
        u, v = self.sensor_coords(col, row)
        r, up, fwd = self.basis
        d = u[..., None] * r + v[..., None] * up + self.f_px * fwd
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def grid_rays(self) -> np.ndarray:
        rows, cols = np.mgrid[0: self.height, 0: self.width]
        return self.rays(cols, rows)

    def horizon_row(self, col: float | None = None) -> float:
        """Row (from the top, continuous, pixel-centre convention) where rays are level, at
        column `col` (the image centre by default; the horizon tilts with roll)."""
        r, up, fwd = self.basis
        u = 0.0 if col is None else float(col) + 0.5 - self.width / 2
        # level ray: (u r + v up + f fwd) . z = 0
        if abs(up[2]) < 1e-9:
            return float("inf") if fwd[2] > 0 else float("-inf")
        v = -(u * r[2] + self.f_px * fwd[2]) / up[2]
        return self.height / 2 - v - 0.5

    def ground_point(self, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each pixel's ray meets z = 0: (x, y, valid); invalid rays point at or above
        the horizon and get the far point at `FAR` metres along their heading."""
        d = self.rays(col, row)
        down = -d[..., 2]
        valid = down > 1e-6
        t = np.where(valid, self.height_m / np.maximum(down, 1e-6), FAR)
        horiz = np.linalg.norm(d[..., :2], axis=-1)
        t = np.minimum(t, FAR / np.maximum(horiz, 1e-6))
        return self.x_m + d[..., 0] * t, self.y_m + d[..., 1] * t, valid

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points (..., 3) -> (col, row, in_front) continuous pixel coordinates."""
        r, up, fwd = self.basis
        rel = np.asarray(points, dtype=np.float64) - self.origin
        z = rel @ fwd
        safe = np.where(np.abs(z) < 1e-9, 1e-9, z)
        u = self.f_px * (rel @ r) / safe
        v = self.f_px * (rel @ up) / safe
        return u + self.width / 2 - 0.5, self.height / 2 - v - 0.5, z > 1e-6

    def depth_along_axis(self, points: np.ndarray) -> np.ndarray:
        """Distance of world points in front of the camera along its optical axis (z-depth)."""
        return (np.asarray(points, dtype=np.float64) - self.origin) @ self.basis[2]

    def plane_hit(self, col: np.ndarray, row: np.ndarray, normal: np.ndarray, offset: float
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Where pixel rays meet the plane n . p = offset: (points (..., 3), valid)."""
        d = self.rays(col, row)
        n = np.asarray(normal, dtype=np.float64)
        den = d @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (offset - self.origin @ n) / np.where(np.abs(den) < 1e-9, 1e-9, den)
        valid = (t > 1e-6) & (np.abs(den) > 1e-9)
        t = np.where(valid, t, 0.0)
        return self.origin + d * t[..., None], valid

    def height_at(self, row: np.ndarray, depth: np.ndarray, col: np.ndarray | None = None) -> np.ndarray:
        """z of the point seen at (col, row) (the image centre column by default) on the plane
        at forward distance `depth` (world y - camera y, for yaw 0)."""
        row = np.asarray(row, dtype=np.float64)
        col = np.full_like(row, self.width / 2 - 0.5) if col is None else np.asarray(col, dtype=np.float64)
        d = self.rays(col, row)
        return self.height_m + np.asarray(depth) * d[..., 2] / np.maximum(d[..., 1], 1e-6)

    def x_at(self, col: np.ndarray, row: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """x of the point seen at (col, row) on the plane at forward distance `depth`."""
        d = self.rays(col, row)
        return self.x_m + np.asarray(depth) * d[..., 0] / np.maximum(d[..., 1], 1e-6)


def pitch_for_horizon(horizon_row: float, height: int, f_px: float) -> float:
    """Camera pitch (degrees) that puts the horizon on `horizon_row` (rows from the top):
    the horizon lies f*tan(pitch) below the image centre when the camera tilts up."""
    v = height / 2 - (horizon_row + 0.5)
    return float(np.clip(math.degrees(math.atan2(-v, f_px)), -85.0, 60.0))


def yaw_for_vanishing_column(col: float, width: int, f_px: float, pitch_deg: float) -> float:
    """Camera yaw (degrees) that puts the street's vanishing point (+Y) on column `col`: the
    street direction projects to u = f tan(yaw) / cos(pitch), right of centre for yaw > 0."""
    u = col + 0.5 - width / 2
    return float(math.degrees(math.atan2(u * math.cos(math.radians(pitch_deg)), f_px)))
