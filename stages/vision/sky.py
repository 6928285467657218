"""Sky colours and sun from the photo: the lighting section's numbers.

The program's world is a gradient in the view direction's height z: the horizon colour
at z = 0, the zenith colour at z = 1, linear in between (in linear light). Each sky pixel
has a known z once the camera is known, so the two colours are a least-squares line fit
to the sky pixels; the zenith is that line extrapolated, so it keeps the photo's vertical
gradient. Without sky in view the world is only ambient light and is set neutral.
The sun's share of the light follows how the sky looks (blue and clear: strong sun;
grey or dark: overcast) and the contrast in the rest of the photo; its azimuth follows
which side of the photo is brighter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.vision.camera import PinholeCamera
from stages.vision.image import PhotoArrays, linear_to_srgb, srgb_to_linear
from stages.vision.segment import SKY

AMBIENT_NO_SKY = 0.55  # linear radiance of the neutral world when no sky is in view


@dataclass
class SkyFit:
    horizon: np.ndarray  # linear, before strength, each channel in [0, 1]
    zenith: np.ndarray
    strength: float
    visible: bool
    clear: float  # 0 overcast .. 1 clear blue: how much of the light the sun brings

    def srgb(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        h = tuple(float(v) for v in linear_to_srgb(self.horizon))
        z = tuple(float(v) for v in linear_to_srgb(self.zenith))
        return h, z


def fit_sky(pa: PhotoArrays, labels: np.ndarray, cam: PinholeCamera) -> SkyFit:
    """Least-squares horizon/zenith colours over the sky pixels (module docstring)."""
    mask = labels == SKY
    if mask.sum() < 0.01 * labels.size:
        tint = pa.linear.reshape(-1, 3).mean(0)
        tint = 0.7 + 0.3 * tint / max(float(tint.mean()), 1e-4)  # a faint cast of the photo's light
        c = np.clip(AMBIENT_NO_SKY * tint / tint.max(), 0, 1)
        return SkyFit(horizon=c, zenith=c, strength=1.0, visible=False, clear=0.4)
    rows, cols = np.nonzero(mask)
    z = np.clip(cam.rays(cols.astype(float), rows.astype(float))[:, 2], 0.0, 1.0)
    # fit to the sRGB means of bands of equal height z, taken back to linear light: the
    # render interpolates linearly, the scores compare sRGB, and a band's best flat colour
    # is its sRGB mean
    bins = np.clip(((z - z.min()) / max(np.ptp(z), 1e-6) * 16).astype(int), 0, 15)
    count = np.bincount(bins, minlength=16).astype(float)
    keep = count > 0
    zb = (np.bincount(bins, z, minlength=16)[keep] / count[keep])
    target = srgb_to_linear(np.stack([np.bincount(bins, pa.srgb[rows, cols, i], minlength=16)[keep] / count[keep]
                                      for i in range(3)], axis=1))
    weight = count[keep]
    if np.ptp(z) < 0.05:  # too thin a band to see a gradient: flat sky
        mean = (target * weight[:, None]).sum(0) / weight.sum()
        horizon, zenith = mean, mean
    else:
        horizon, zenith = _fit_gradient(zb, target, weight)
    strength = float(max(1.0, horizon.max(), zenith.max()))
    horizon, zenith = np.clip(horizon / strength, 0, 1), np.clip(zenith / strength, 0, 1)
    mean = (target * weight[:, None]).sum(0) / weight.sum()
    blue = float(np.clip((mean[2] - mean[0]) / max(mean.mean(), 1e-4), 0.0, 1.0))
    bright = float(np.clip(mean.mean() / 0.5, 0.0, 1.0))
    return SkyFit(horizon=horizon, zenith=zenith, strength=strength, visible=True, clear=0.5 * blue + 0.3 * bright)


def _fit_gradient(z: np.ndarray, target: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of target = horizon (1 - z) + zenith z per channel, both >= 0:
    a colour that would go negative is pinned at 0 and the other refitted alone."""
    basis = np.stack([1 - z, z], axis=1) * np.sqrt(weight)[:, None]
    rhs = target * np.sqrt(weight)[:, None]
    coef, *_ = np.linalg.lstsq(basis, rhs, rcond=None)
    horizon, zenith = coef[0].copy(), coef[1].copy()
    for c in range(3):
        if zenith[c] < 0:
            zenith[c] = 0.0
            horizon[c] = max(0.0, float(basis[:, 0] @ rhs[:, c] / (basis[:, 0] @ basis[:, 0])))
        elif horizon[c] < 0:
            horizon[c] = 0.0
            zenith[c] = max(0.0, float(basis[:, 1] @ rhs[:, c] / (basis[:, 1] @ basis[:, 1])))
    return horizon, zenith


@dataclass
class SunFit:
    elevation_deg: float
    azimuth_deg: float
    share: float  # fraction of a horizontal surface's light that comes from the sun
    color: tuple[float, float, float]


def fit_sun(pa: PhotoArrays, labels: np.ndarray, sky: SkyFit) -> SunFit:
    """Sun share from the sky's clearness and the photo's shading contrast; azimuth from
    the left/right balance of brightness outside the sky; a warm white colour."""
    solid = labels != SKY
    lum = pa.linear.mean(-1)
    vals = lum[solid] if solid.any() else lum.ravel()
    contrast = float(np.clip((np.percentile(vals, 90) - np.percentile(vals, 10)) / max(np.percentile(vals, 90), 1e-4), 0, 1))
    # kept modest: the pop-up's crude shapes cast crude shadows, and the photo's own shading
    # is already in the region colours; the tuner may strengthen the sun
    share = float(np.clip(0.08 + 0.2 * sky.clear + 0.15 * contrast, 0.05, 0.4))
    w = lum.shape[1]
    left = lum[:, : w // 3][solid[:, : w // 3]]
    right = lum[:, -(w // 3):][solid[:, -(w // 3):]]
    balance = 0.0
    if left.size and right.size:
        balance = float((right.mean() - left.mean()) / max(right.mean() + left.mean(), 1e-4))
    azimuth = float(np.clip(80.0 * balance, -30.0, 30.0))  # brighter right: sun to the right (+x)
    elevation = 35.0 + 20.0 * sky.clear
    return SunFit(elevation_deg=elevation, azimuth_deg=azimuth, share=share, color=(1.0, 0.97, 0.92))
