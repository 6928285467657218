"""The street's cross-section classes (stages/vision/ground.py): which strip is the road, a
sidewalk or terrain. Numpy only: strips with the Lab colours read on the dev streets."""
from __future__ import annotations

import numpy as np

from stages.vision.ground import Strip, _classify, _is_terrain


def _strips(*rows: tuple[float, float, float, float, float]) -> list[Strip]:
    """(x0, x1, L, a, b) per strip, left to right."""
    return [Strip(x0, x1, np.array([lab_l, a, b]), np.zeros(3)) for x0, x1, lab_l, a, b in rows]


def _classes(strips: list[Strip]) -> list[str]:
    _classify(strips, 0.0)
    return [s.cls for s in strips]


def test_a_lit_sidewalk_with_nothing_as_light_beyond_is_not_road():
    # the paving is lighter and a little yellower than the asphalt, which same_surface takes
    # for the lit side of a shadow edge; beyond it only darker ground: it is the sidewalk
    strips = _strips((-40.0, -3.25, 46.5, 2.6, 10.8), (-3.25, -1.75, 62.7, 3.1, -0.6), (-1.75, 2.0, 35.0, 1.0, -3.6),
                     (2.0, 4.5, 35.4, 0.8, -2.5), (4.5, 5.0, 55.3, 2.3, 1.7), (5.0, 7.0, 63.2, 3.4, 3.9),
                     (7.0, 40.0, 76.5, 1.8, 19.9))
    cls = _classes(strips)
    assert cls[1] == "sidewalk", cls
    assert cls[2] == cls[3] == "road"


def test_the_lit_half_of_a_road_in_a_shadow_stays_road():
    # the camera stands over the shaded half; the lit half is lighter and yellower, and the
    # paving beyond it is lighter still: the lit half is road, the paving sidewalk
    strips = _strips((-40.0, -7.0, 14.0, 8.3, -0.7), (-7.0, -4.0, 27.3, 4.8, -15.2), (-4.0, 0.25, 14.8, 2.7, -11.9),
                     (0.25, 5.25, 35.2, 0.8, -4.5), (5.25, 6.75, 63.5, 4.4, -3.1), (6.75, 40.0, 34.4, 1.8, -2.0))
    cls = _classes(strips)
    assert cls[2] == cls[3] == "road", cls
    assert cls[4] == "sidewalk"


def test_a_narrow_mixed_strip_at_the_kerb_does_not_carry_the_road_onto_the_sidewalk():
    # dev street 101 read at 2.12 m: the road (L 16), a 0.4 m strip that mixes the road's
    # and the kerb's bins (L 32, yellower: same_surface calls the step a shadow's edge), then
    # the paving (L 37, as blue as the road: a different material). At 2.0 m the bins fell
    # so that no mixed strip was cut, and the paving was a sidewalk; it must be at any height
    strips = _strips((-40.0, -4.5, 60.0, 1.0, 8.0), (-4.5, -2.5, 19.0, 3.0, -11.0), (-2.5, 3.75, 16.0, 3.0, -13.0),
                     (3.75, 4.25, 32.0, 3.0, -9.0), (4.25, 6.0, 37.0, 3.0, -14.0), (6.0, 6.5, 34.0, 3.0, -14.0),
                     (6.5, 40.0, 25.0, 4.0, -17.0))
    cls = _classes(strips)
    assert cls[1] == cls[2] == "road", cls
    assert cls[3] == cls[4] == "sidewalk", cls
    # and the other way (dev street 103): a lit road's mixed edge strip next to a sidewalk in a
    # shadow (darker and bluer: a shadow's edge, strip by strip past the mixed one) stops the road
    strips = _strips((-40.0, -3.0, 54.0, 2.0, -11.0), (-3.0, 6.5, 46.0, 1.0, -4.0), (6.5, 7.0, 37.0, 1.0, -6.0),
                     (7.0, 7.5, 23.0, 2.0, -11.0), (7.5, 10.5, 24.0, 3.0, -17.0), (10.5, 40.0, 19.0, 6.0, -11.0))
    cls = _classes(strips)
    assert cls[1] == "road" and cls[3] != "road" and cls[4] != "road", cls


def test_a_sidewalk_in_a_shadow_is_judged_against_the_road_beside_it():
    # dev street 115: the left half of the road and its sidewalk lie in a shadow, the right
    # half in the sun. The shaded paving (L 27) is darker than the road's median lightness
    # (which a lit strip more or less moves between 19 and 33) but much lighter than the
    # shaded road beside it: a sidewalk
    strips = _strips((-40.0, -7.25, 14.0, 8.0, 0.0), (-7.25, -4.25, 27.0, 5.0, -13.0), (-4.25, -0.25, 15.0, 3.0, -12.0),
                     (-0.25, 0.25, 19.0, 2.0, -11.0), (0.25, 0.75, 33.0, 1.0, -5.0), (0.75, 4.75, 35.0, 1.0, -5.0),
                     (4.75, 5.25, 39.0, 1.0, -3.0), (5.25, 7.25, 61.0, 4.0, -3.0), (7.25, 40.0, 34.0, 4.0, -5.0))
    cls = _classes(strips)
    assert cls[1] == "sidewalk", cls
    assert cls[2:7] == ["road"] * 5, cls


def test_sunlit_paving_lighter_and_yellower_than_sunlit_asphalt_is_no_shadow_edge():
    # dev street 106: the lit road (L 39, b -6) meets lighter, yellower ground (L 49, b 0)
    # that runs to the section's end. Lighter and yellower is how the lit side of a shadow
    # edge looks, but the darker side here is not blue, so no shadow. Before, the road ran
    # on to 40 m, the right facades were searched beyond it and came out wrong (the street's
    # sky IoU 0.28, now 0.82)
    strips = _strips((-40.0, -8.0, 34.0, 4.0, -10.0), (-8.0, -7.25, 25.0, 4.0, -6.0), (-7.25, -6.75, 36.0, 3.0, -6.0),
                     (-6.75, 4.0, 39.0, 3.0, -6.0), (4.0, 40.0, 49.0, 2.0, 0.0))
    cls = _classes(strips)
    assert cls[2] == cls[3] == "road" and cls[4] != "road", cls


def test_grass_in_a_shadow_is_terrain_and_shaded_asphalt_is_not():
    assert _is_terrain(np.array([18.6, -10.0, 3.4]))  # a verge in a facade's shadow
    assert _is_terrain(np.array([49.7, -9.4, 16.5]))  # lit grass
    assert not _is_terrain(np.array([14.8, 2.7, -11.9]))  # asphalt lit by the sky alone
    assert not _is_terrain(np.array([63.2, 3.4, 3.9]))  # yellowish paving


def test_a_rescaled_reading_whose_road_runs_to_the_end_of_the_section_is_refused():
    # dev street 103 read again at the car-corrected camera height: the shadowed ground
    # right of the road joined the road out to the end of the section (no edge seen there),
    # and the right facades were lost; the first reading's road had both edges
    from stages.vision.ground import CrossSection
    from stages.vision.street import rescaled_reading_holds

    def section(*rows):
        strips = _strips(*[(x0, x1, float(lab_l), float(a), float(b)) for x0, x1, lab_l, a, b in rows])
        return CrossSection(strips, edge_inferred=_classify(strips, 0.0))

    # the strips as read there (Lab rounded), at 2.00 m and at 2.31 m
    first = section((-40.0, -7.5, 48, -1, -5), (-7.5, -7.0, 47, -7, 7), (-7.0, -5.0, 50, -10, 15),
                    (-5.0, -4.5, 51, -8, 9), (-4.5, -3.0, 54, 2, -11), (-3.0, -1.2, 39, 1, -6), (-1.2, 0.2, 42, 1, -5),
                    (0.2, 4.2, 44, 1, -5), (4.2, 4.8, 41, 1, -5), (4.8, 6.5, 46, 1, -4), (6.5, 7.0, 37, 1, -6),
                    (7.0, 7.5, 23, 2, -11), (7.5, 10.5, 24, 3, -17), (10.5, 40.0, 19, 6, -11))
    again = section((-40.0, -9.0, 48, -1, -6), (-9.0, -8.5, 47, -2, -2), (-8.5, -8.0, 47, -7, 9),
                    (-8.0, -5.8, 50, -10, 15), (-5.8, -5.2, 50, -9, 11), (-5.2, -3.5, 54, 2, -11), (-3.5, -1.2, 39, 1, -6),
                    (-1.2, 0.2, 42, 1, -5), (0.2, 5.2, 44, 1, -5), (5.2, 7.8, 46, 1, -4), (7.8, 8.2, 30, 1, -7),
                    (8.2, 8.8, 22, 2, -13), (8.8, 12.0, 24, 4, -17), (12.0, 40.0, 19, 6, -11))
    # the classes as that reading gave them (the road is now judged against the strip under
    # the camera too, which stops it at 7.8 m here; the guard must hold whatever the classes)
    for strip in again.strips:
        if strip.x0 >= -3.5:
            strip.cls = "road"
    assert not first.road_unbounded() and again.road_unbounded(), (first.road_extent(), again.road_extent())
    assert not rescaled_reading_holds(first, again)
    assert rescaled_reading_holds(again, first)  # the other way round (dev street 119): the rescale is taken
    assert rescaled_reading_holds(first, first)


def test_a_road_grown_to_the_end_of_the_section_is_cut_at_its_largest_step():
    # dev street 103 read at its true camera: the shaded right sidewalk and the ground under
    # the facades look like a shaded road, and the road ran to +40 m (the truth's edge: 8.5 m)
    from stages.vision.ground import CrossSection

    strips = _strips((-40.0, -9.0, 48, -1, -5), (-9.0, -8.5, 47, -6, 5), (-8.5, -6.0, 50, -10, 15),
                     (-6.0, -5.5, 50, -9, 11), (-5.5, -5.0, 54, 1, -9), (-5.0, -3.8, 54, 2, -12),
                     (-3.8, -3.2, 41, 1, -7), (-3.2, -1.2, 40, 1, -6), (-1.2, 0.8, 42, 1, -5), (0.8, 6.5, 44, 1, -5),
                     (6.5, 7.8, 47, 1, -3), (7.8, 8.2, 40, 1, -5), (8.2, 8.8, 26, 1, -9), (8.8, 9.2, 22, 2, -14),
                     (9.2, 12.5, 24, 4, -17), (12.5, 40.0, 19, 6, -11))
    cut = _classify(strips, 0.0)
    section = CrossSection(strips, edge_inferred=cut)
    assert cut and section.road_extent() == (-3.8, 8.2), section.road_extent()
    assert [s.cls for s in strips[12:15]] == ["sidewalk"] * 3
    assert section.road_unbounded()  # an inferred edge is no measured width (stages.vision.scale)


def test_small_steps_of_lightness_do_not_chain_the_road_over_the_sidewalk():
    # evaluation street 9004 read at its true camera: each strip within the lightness step of
    # the one beside it (L 18, 19, 21, 26, 32), the sidewalk and the verge in a shadow; judged
    # against the road under the camera too, the road stops where the sidewalk starts.
    # On the right, past the dark asphalt (L 16), the lit sidewalk (L 26-29, neutral and
    # bluish, truly at 4.3-6.1 m), then grass between the buildings and the facades' lit bases
    # (L 23 and 30, but olive and beige): only paving of the lit strip's hue beyond it would
    # say that the lit strip is a part of the road
    strips = _strips((-40.0, -13.2, 32, -3, -2), (-13.2, -10.0, 32, 1, -11), (-10.0, -9.5, 26, 1, -9),
                     (-9.5, -8.5, 21, 1, -10), (-8.5, -2.0, 19, 3, -13), (-2.0, 1.5, 18, 4, -13),
                     (1.5, 4.5, 16, 4, -12), (4.5, 5.0, 26, 3, -7), (5.0, 6.5, 29, 2, -9), (6.5, 7.0, 25, -1, -5),
                     (7.0, 8.5, 18, -6, 4), (8.5, 9.0, 23, -3, 6), (9.0, 40.0, 30, -2, 8))
    cls = _classes(strips)
    assert cls[1] == "sidewalk" and cls[0] != "road", cls
    assert all(c == "road" for c in cls[2:7]), cls
    assert cls[7] == cls[8] == "sidewalk", cls


def test_a_shadows_soft_edge_across_the_road_does_not_stop_it():
    # evaluation street 9003 read at its true camera: the camera stands over the lit part
    # (L 31); the strips toward the facades' shadow darken step by step (26, 22, 17) to the
    # shaded road (15), then the lit sidewalk (21, 28, 30). Judged against the lit strip
    # alone the first of the soft edge is neither lit nor shaded (9 darker, 2 bluer) and the
    # road stopped 4 m wide; judged by what lies past the soft edge it reaches the kerb
    strips = _strips((-40.0, -9.8, 52, 10, 16), (-9.8, -6.0, 36, 5, -3), (-6.0, -4.0, 17, 4, -9),
                     (-4.0, -3.5, 19, 3, -9), (-3.5, 0.2, 31, 2, -7), (0.2, 0.8, 26, 2, -8), (0.8, 1.2, 22, 3, -9),
                     (1.2, 1.8, 17, 3, -11), (1.8, 3.8, 15, 4, -12), (3.8, 4.2, 21, 4, -5), (4.2, 5.8, 28, 4, -7),
                     (5.8, 7.2, 30, 3, -6), (7.2, 40.0, 28, 0, -2))
    cls = _classes(strips)
    assert cls[4:9] == ["road"] * 5, cls
    assert cls[9:12] == ["sidewalk"] * 3, cls

