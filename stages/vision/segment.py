"""Geometric classes per pixel: sky, ground (support) or vertical, as in Hoiem et al. 2005.

Hoiem et al. learn the classes from colour, texture, position and perspective cues; with
no training data we score the same cues by hand, per superpixel, and let a per-column
dynamic programme impose what a photo of the world looks like from top to bottom: sky
first, then upright things, then ground, with an upright thing standing in front of the
ground allowed (a chair on a floor) and sky never below ground or upright things.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.vision.image import PhotoArrays
from stages.vision.superpixels import connected_components, region_means, slic

SKY, VERTICAL, GROUND = 0, 1, 2
CLASS_NAMES = ("sky", "vertical", "ground")

# Cost of changing class going down a column (row to row); inf: never.
# from \ to        sky      vertical  ground
SKY_TEXTURE = 0.006  # see class_scores
SMALL_SKY = 0.08  # share of the photo below which a sky that is not smooth is doubted

_TRANSITION = np.array([
    [0.0, 2.0, 3.0],  # sky
    [np.inf, 0.0, 2.0],  # vertical
    [np.inf, 4.0, 0.0],  # ground: an object standing in front of the ground
])


@dataclass
class Segmentation:
    superpixels: np.ndarray  # (H, W) superpixel ids
    labels: np.ndarray  # (H, W) SKY / VERTICAL / GROUND
    scores: np.ndarray  # (n_superpixels, 3) log-likelihood per class (higher: more likely)

    def fraction(self, cls: int) -> float:
        return float((self.labels == cls).mean())


def superpixel_features(pa: PhotoArrays, sp: np.ndarray) -> dict[str, np.ndarray]:
    """Per-superpixel cues: position, colour, lightness, texture, edge orientation."""
    h, w = sp.shape
    rows, cols = np.mgrid[0:h, 0:w]
    lab = region_means(sp, pa.lab)
    gxx, gyy = region_means(sp, pa.gxx), region_means(sp, pa.gyy)
    return {
        "y": region_means(sp, rows / max(h - 1, 1)),
        "x": region_means(sp, cols / max(w - 1, 1)),
        "lab": lab,
        "texture": region_means(sp, pa.texture),
        "vertical_edges": gxx / (gxx + gyy + 1e-9),  # share of gradient energy across x
        "size": np.bincount(sp.ravel()).astype(np.float64),
    }


def sky_texture_limit(b: np.ndarray | float) -> np.ndarray | float:
    """The texture a sky of Lab blueness `b` may have: blue skies are allowed cloud edges."""
    return SKY_TEXTURE * (1.0 + 2.0 * np.clip(-np.asarray(b) / 30.0, 0.0, 1.0))


def class_scores(pa: PhotoArrays, f: dict[str, np.ndarray]) -> np.ndarray:
    """Hand-set log-likelihoods (n, 3). Each term is one of Hoiem's cues, and says why.

    Sky: high, brighter than the scene, smooth, blue or neutral (never strongly green,
    red or yellow). Ground: low, similar in colour to the bottom of the photo, its texture
    foreshortened (horizontal edges). Vertical: textured, vertical edges, saturated colours
    that are not sky, anywhere in between."""
    y = f["y"]
    lab = f["lab"]
    light = lab[:, 0] / 100.0
    a, b = lab[:, 1], lab[:, 2]
    # absolute texture (lightness gradient per pixel at 256 px): clear and overcast skies
    # measure below 0.005, concrete, walls with things on them and foliage above 0.01;
    # cloud edges reach 0.015, so blue regions are allowed more texture
    blue = np.clip(-b / 30.0, 0.0, 1.0)
    rough = np.clip(f["texture"] / sky_texture_limit(b) - 0.5, 0.0, 6.0)
    warm_or_green = np.clip((np.abs(a) + np.maximum(b, 0.0)) / 40.0, 0.0, 2.0)  # chroma skies rarely have
    light_ref = float(np.median(pa.lab[..., 0])) / 100.0
    vert = f["vertical_edges"]
    h = pa.shape[0]
    # the bottom of a photo is nearly always ground: what looks like it is ground (or at
    # least not sky: a top region of the same stuff as the bottom is a surface seen from above)
    bottom = np.median(pa.lab[int(h * 0.9):].reshape(-1, 3), axis=0)
    near_bottom = np.exp(-np.linalg.norm(lab - bottom, axis=1) / 18.0)

    # a texture made of vertical edges (a facade, trunks, a pole) is not sky
    upright_texture = np.maximum(vert - 0.7, 0.0) * np.clip(f["texture"] / SKY_TEXTURE, 0.0, 2.0)
    sky = (3.5 * (0.45 - y) + 2.5 * (light - light_ref) - 1.2 * rough + 1.0 * blue
           - 2.5 * warm_or_green - 2.0 * near_bottom - 4.0 * upright_texture + 1.8)
    ground = 4.0 * (y - 0.55) + 1.5 * (0.5 - vert) + 1.2 * near_bottom
    vertical = 1.5 * (vert - 0.5) + 0.3 * np.clip(rough, 0, 3) + 1.5 * (0.25 - np.abs(y - 0.45))
    return np.stack([sky, vertical, ground], axis=1)


def column_dp(unary: np.ndarray) -> np.ndarray:
    """Best class per pixel, each column separately (Viterbi, top to bottom).

    unary: (H, W, 3) costs (lower is better). Returns (H, W) classes. (Making the cost of
    a class change depend on the colour edge there was tried and lost 0.3 dB: the
    superpixel majority vote already puts boundaries on colour edges.)"""
    h, w, k = unary.shape
    cost = unary[0].copy()
    back = np.zeros((h, w, k), dtype=np.int64)
    for r in range(1, h):
        total = cost[:, :, None] + _TRANSITION[None, :, :]  # (W, from, to)
        back[r] = np.argmin(total, axis=1)
        cost = np.min(total, axis=1) + unary[r]
    out = np.zeros((h, w), dtype=np.int64)
    out[-1] = np.argmin(cost, axis=1)
    cols = np.arange(w)
    for r in range(h - 1, 0, -1):
        out[r - 1] = back[r, cols, out[r]]
    return out


def segment(pa: PhotoArrays) -> Segmentation:
    """Superpixels, their class scores, then the column-ordered labelling; finally each
    superpixel takes its majority class so labels follow colour edges."""
    sp = slic(pa.lab, spacing=max(4, round(max(pa.shape) / 22)))
    feats = superpixel_features(pa, sp)
    scores = class_scores(pa, feats)
    sp_labels = _label(sp, scores)
    # second pass: the sky is one colour family, seen in its most sky-like part
    penalty = _sky_colour_penalty(feats, sp_labels)
    if penalty.any():
        scores = scores.copy()
        scores[:, SKY] -= penalty
        sp_labels = _label(sp, scores)
    return Segmentation(superpixels=sp, labels=_drop_doubtful_sky(sp_labels[sp], pa, sp), scores=scores)


def _label(sp: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-superpixel classes: column DP on the pixel grid, then a majority vote per superpixel."""
    logp = scores - scores.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    labels = column_dp(-logp[sp])
    votes = np.zeros((scores.shape[0], 3))
    np.add.at(votes, (sp.ravel(), labels.ravel()), 1.0)
    return np.argmax(votes, axis=1)


def _sky_colour_penalty(f: dict[str, np.ndarray], sp_labels: np.ndarray) -> np.ndarray:
    """Sky grows whiter towards the horizon but never yellower or redder than its own most
    sky-like part (sunsets aside, and then that part is warm too): a bright smooth facade
    next to a blue sky is told apart by colour. Seeds: the sky superpixels in the upper
    part of the sky, the bluest third of them."""
    sky = np.flatnonzero(sp_labels == SKY)
    out = np.zeros(len(sp_labels))
    if len(sky) < 3:
        return out
    lab = f["lab"]
    upper = sky[f["y"][sky] <= np.percentile(f["y"][sky], 50)]
    b_seeds = np.sort(lab[upper, 2])[: max(2, len(upper) // 3)]  # the bluest third
    b_max = max(2.0, float(np.median(b_seeds)) + 8.0)
    a_ref = float(np.median(lab[upper, 1]))
    warm = np.maximum(lab[:, 2] - b_max, 0.0) + np.maximum(np.abs(lab[:, 1] - a_ref) - 6.0, 0.0)
    out = 0.5 * warm
    return out


def _drop_doubtful_sky(labels: np.ndarray, pa: PhotoArrays, sp: np.ndarray) -> np.ndarray:
    """Specks of "sky" are nearly always a bright wall or floor: relabel them vertical.
    Sky survives as a few large pieces, or as small but smooth gaps (sky through leaves).
    A little sky that is not smooth as a whole was dropped entirely; its rough superpixels
    (a pale facade's) go first, so that a narrow strip of real sky between facades is not
    dropped with them. A large sky keeps its clouds."""
    sky = labels == SKY
    if not sky.any():
        return labels
    out = labels.copy()
    if sky.mean() < SMALL_SKY and float(np.median(pa.texture[sky])) >= SKY_TEXTURE:
        for i in np.unique(sp[sky]):
            part = sky & (sp == i)
            if float(np.median(pa.texture[part])) >= sky_texture_limit(float(np.median(pa.lab[..., 2][part]))):
                out[part] = VERTICAL
        sky = out == SKY
        if not sky.any():
            return out
    comps = connected_components(sky)
    total = labels.size
    smooth_overall = float(np.median(pa.texture[sky])) < SKY_TEXTURE
    for c in range(int(comps.max()) + 1):
        comp = comps == c
        if comp.sum() < 0.02 * total and not (smooth_overall and comp.sum() >= 0.003 * total):
            out[comp] = VERTICAL
    if (out == SKY).mean() < SMALL_SKY and not smooth_overall:
        out[out == SKY] = VERTICAL
    return out
