"""The pinhole camera exactly as scene_program.builders sets it up, in numpy.

Blender's camera looks along +Y when yaw = 0, pitch > 0 tilts it up, and with the
default AUTO sensor fit the sensor width spans the image's *longer* side. Every 3D
placement in the vision backend goes through this one model, so an object put where a
pixel's ray meets the ground renders on that pixel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    width: int  # pixels of the grid the rays are cast for
    height: int
    focal_mm: float = 30.0
    sensor_mm: float = 36.0
    pitch_deg: float = 0.0
    height_m: float = 1.6  # camera z above the ground plane; x = y = 0

    @property
    def f_px(self) -> float:
        """Focal length in pixels: the sensor width fits the longer image side (AUTO fit)."""
        return self.focal_mm / self.sensor_mm * max(self.width, self.height)

    @property
    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right, up, forward) unit vectors in world coordinates."""
        p = math.radians(self.pitch_deg)
        return (np.array([1.0, 0.0, 0.0]), np.array([0.0, -math.sin(p), math.cos(p)]),
                np.array([0.0, math.cos(p), math.sin(p)]))

    @property
    def origin(self) -> np.ndarray:
        return np.array([0.0, 0.0, self.height_m])

    def sensor_coords(self, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel centres (col, row from the top) -> (u right, v up) in pixels from the centre."""
        return np.asarray(col, dtype=np.float64) + 0.5 - self.width / 2, self.height / 2 - (np.asarray(row, dtype=np.float64) + 0.5)

    def rays(self, col: np.ndarray, row: np.ndarray) -> np.ndarray:
        """Unit ray directions (..., 3) through pixel centres."""
        u, v = self.sensor_coords(col, row)
        r, up, fwd = self.basis
        d = u[..., None] * r + v[..., None] * up + self.f_px * fwd
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def grid_rays(self) -> np.ndarray:
        rows, cols = np.mgrid[0 : self.height, 0 : self.width]
        return self.rays(cols, rows)

    def horizon_row(self) -> float:
        """Row (from the top, continuous, pixel-centre convention) where rays are level."""
        v = -self.f_px * math.tan(math.radians(self.pitch_deg))
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
        return d[..., 0] * t, d[..., 1] * t, valid

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points (..., 3) -> (col, row, in_front) continuous pixel coordinates."""
        r, up, fwd = self.basis
        rel = np.asarray(points, dtype=np.float64) - self.origin
        z = rel @ fwd
        safe = np.where(np.abs(z) < 1e-9, 1e-9, z)
        u = self.f_px * (rel @ r) / safe
        v = self.f_px * (rel @ up) / safe
        return u + self.width / 2 - 0.5, self.height / 2 - v - 0.5, z > 1e-6

    def height_at(self, row: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """z of the point seen on `row` (image centre column) on the vertical plane y = depth."""
        _, v = self.sensor_coords(np.zeros_like(np.asarray(row, dtype=np.float64)), row)
        p = math.radians(self.pitch_deg)
        # direction (.., f cos p - v sin p, f sin p + v cos p): scale so y = depth
        dy = self.f_px * math.cos(p) - v * math.sin(p)
        dz = self.f_px * math.sin(p) + v * math.cos(p)
        return self.height_m + np.asarray(depth) * dz / np.maximum(dy, 1e-6)

    def x_at(self, col: np.ndarray, row: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """x of the point seen at (col, row) on the vertical plane y = depth."""
        u, v = self.sensor_coords(col, row)
        p = math.radians(self.pitch_deg)
        dy = self.f_px * math.cos(p) - v * math.sin(p)
        return np.asarray(depth) * u / np.maximum(dy, 1e-6)


FAR = 600.0  # metres: where rays at or above the horizon are said to meet the ground


def pitch_for_horizon(horizon_row: float, height: int, f_px: float) -> float:
    """Camera pitch (degrees) that puts the horizon on `horizon_row` (rows from the top):
    the horizon lies f*tan(pitch) below the image centre when the camera tilts up."""
    v = height / 2 - (horizon_row + 0.5)
    return float(np.clip(math.degrees(math.atan2(-v, f_px)), -85.0, 60.0))
