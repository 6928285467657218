'''The code half of each section: functions that read the section's dict and build it.

Written once here and copied verbatim into every program seig writes, so a program is
self-contained (no seig import) yet every offline-written program shares one tested
implementation. A VLM may rewrite a section's code freely; these are only the default.
Each must pass the sandbox (blender_actors.sandbox): no file access, no dunders.
'''

GEOMETRY_CODE = '''
def srgb_to_linear(c):
    """Photo colours are sRGB; Blender shades in linear light."""
    return [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c]


def build_geometry():
    """Create each object standing at its location (base centre), turned by its yaw, scaled to
    its size in metres, and labelled with its class (custom property `semantic`)."""
    objects = {}
    for spec in GEOMETRY["objects"]:
        bm = bmesh.new()
        shape = spec["shape"]
        if shape == "box":
            bmesh.ops.create_cube(bm, size=1.0)
        elif shape == "cylinder":
            bmesh.ops.create_cone(bm, cap_ends=True, segments=24, radius1=0.5, radius2=0.5, depth=1.0)
        elif shape == "cone":
            bmesh.ops.create_cone(bm, cap_ends=True, segments=24, radius1=0.5, radius2=0.0, depth=1.0)
        elif shape == "sphere":
            bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=12, radius=0.5)
        elif shape == "plane":
            bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=0.5)
        else:
            raise ValueError("unknown shape: " + shape)
        if shape != "plane":
            bmesh.ops.translate(bm, verts=bm.verts, vec=(0.0, 0.0, 0.5))
        mesh = bpy.data.meshes.new(spec["name"])
        bm.to_mesh(mesh)
        bm.free()
        obj = bpy.data.objects.new(spec["name"], mesh)
        obj.scale = spec["size"]
        obj.location = spec["location"]
        obj.rotation_euler = (0.0, 0.0, math.radians(spec["yaw_deg"]))
        obj["semantic"] = spec["class"]
        bpy.context.scene.collection.objects.link(obj)
        objects[spec["name"]] = obj
    return objects
'''

MATERIALS_CODE = '''
def pattern_factor(nodes, links, spec):
    """A procedural brightness pattern around 0.5, in world space (features per metre):
    noise (plaster, asphalt, bark), brick (courses along any wall), foliage (leaf clumps)."""
    scale = spec["noise_scale"]
    position = nodes.new("ShaderNodeNewGeometry").outputs["Position"]
    pattern = spec.get("pattern", "noise")
    if pattern == "brick":
        split = nodes.new("ShaderNodeSeparateXYZ")
        along = nodes.new("ShaderNodeMath")
        along.operation = "ADD"
        wall = nodes.new("ShaderNodeCombineXYZ")
        links.new(position, split.inputs["Vector"])
        links.new(split.outputs["X"], along.inputs[0])
        links.new(split.outputs["Y"], along.inputs[1])
        links.new(along.outputs[0], wall.inputs["X"])
        links.new(split.outputs["Z"], wall.inputs["Y"])
        brick = nodes.new("ShaderNodeTexBrick")
        brick.inputs["Scale"].default_value = 1.0
        brick.inputs["Brick Width"].default_value = 1.0 / scale
        brick.inputs["Row Height"].default_value = 0.35 / scale
        brick.inputs["Mortar Size"].default_value = 0.04 / scale
        brick.inputs["Color1"].default_value = (0.55, 0.55, 0.55, 1.0)
        brick.inputs["Color2"].default_value = (0.4, 0.4, 0.4, 1.0)
        brick.inputs["Mortar"].default_value = (0.75, 0.75, 0.75, 1.0)
        links.new(wall.outputs["Vector"], brick.inputs["Vector"])
        return brick.outputs["Color"]
    if pattern == "foliage":
        cells = nodes.new("ShaderNodeTexVoronoi")
        cells.inputs["Scale"].default_value = scale
        links.new(position, cells.inputs["Vector"])
        return cells.outputs["Distance"]
    noise = nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = scale
    links.new(position, noise.inputs["Vector"])
    return noise.outputs["Factor"]


def make_material(name, spec):
    """A Principled BSDF; a pattern (strength > 0) varies its brightness around the colour."""
    mat = bpy.data.materials.new(name)
    nodes = mat.node_tree.nodes
    links = mat.node_tree.links
    bsdf = nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = srgb_to_linear(spec["color"]) + [1.0]
    bsdf.inputs["Roughness"].default_value = spec["roughness"]
    bsdf.inputs["Metallic"].default_value = spec["metallic"]
    strength = spec["noise_strength"]
    if strength > 0 and spec.get("pattern", "noise") != "plain":
        gain = nodes.new("ShaderNodeMath")
        gain.operation = "MULTIPLY_ADD"
        gain.inputs[1].default_value = 2.0 * strength
        gain.inputs[2].default_value = 1.0 - strength
        tint = nodes.new("ShaderNodeHueSaturation")
        tint.inputs["Color"].default_value = bsdf.inputs["Base Color"].default_value
        links.new(pattern_factor(nodes, links, spec), gain.inputs[0])
        links.new(gain.outputs[0], tint.inputs["Value"])
        links.new(tint.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def build_materials(objects):
    """One material per MATERIALS entry. An object without an entry of its own (one the
    geometry stage just added) wears the material of the object whose name its own extends
    (building_left_2_b: building_left_2's), else of the first of its class whose name ends
    the same way (tree_4_crown: tree_1_crown's), else of the first of its class, so a new
    piece looks like its kind until the materials stage fits it."""
    made = {}
    for name, spec in MATERIALS.items():
        if name in objects:
            made[name] = make_material(name, spec)
    by_class = {}
    for name, mat in made.items():
        by_class.setdefault(objects[name]["semantic"], mat)
    for name, obj in objects.items():
        mat = made.get(name)
        base = name
        while mat is None and "_" in base:
            base = base.rsplit("_", 1)[0]
            mat = made.get(base)
        if mat is None:
            last = name.rsplit("_", 1)[-1]
            for other, other_mat in made.items():
                if other.rsplit("_", 1)[-1] == last and objects[other]["semantic"] == obj["semantic"]:
                    mat = other_mat
                    break
        if mat is None:
            mat = by_class.get(obj["semantic"])
        if mat is not None:
            obj.data.materials.append(mat)
'''

COMPOSITION_CODE = '''
def build_composition(objects):
    """Adjust objects (shift in metres, turn about +z), then the camera: pitch above the
    horizon, yaw about +z, focal length."""
    for name, spec in COMPOSITION["objects"].items():
        if name in objects:
            obj = objects[name]
            obj.location = [a + b for a, b in zip(obj.location, spec["shift"])]
            obj.rotation_euler[2] += math.radians(spec["turn_deg"])
    cam = COMPOSITION["camera"]
    data = bpy.data.cameras.new("camera")
    data.lens = cam["focal_mm"]
    data.sensor_width = cam["sensor_mm"]
    data.clip_end = 1000.0
    camera = bpy.data.objects.new("camera", data)
    camera.location = cam["location"]
    camera.rotation_euler = (
        math.radians(90.0 + cam["pitch_deg"]),
        math.radians(cam["roll_deg"]),
        math.radians(cam["yaw_deg"]),
    )
    bpy.context.scene.collection.objects.link(camera)
    bpy.context.scene.camera = camera
'''

LIGHTING_CODE = '''
def build_lighting():
    """A sun lamp and a world sky gradient (ground, horizon, zenith) with exposure."""
    scene = bpy.context.scene
    sun = LIGHTING["sun"]
    lamp = bpy.data.lights.new("sun", type="SUN")
    lamp.energy = sun["strength"]
    lamp.color = sun["color"]
    lamp.angle = math.radians(sun["angle_deg"])
    light = bpy.data.objects.new("sun", lamp)
    light.rotation_euler = (math.radians(90.0 - sun["elevation_deg"]), 0.0, math.radians(sun["azimuth_deg"]))
    scene.collection.objects.link(light)

    sky = LIGHTING["sky"]
    world = bpy.data.worlds.new("sky")
    scene.world = world
    nodes = world.node_tree.nodes
    links = world.node_tree.links
    coords = nodes.new("ShaderNodeTexCoord")
    split = nodes.new("ShaderNodeSeparateXYZ")
    height = nodes.new("ShaderNodeMapRange")
    height.inputs["From Min"].default_value = -1.0
    ramp = nodes.new("ShaderNodeValToRGB")
    stops = ramp.color_ramp.elements
    stops[0].position = 0.49
    stops[0].color = srgb_to_linear(sky["ground"]) + [1.0]
    stops[1].position = 1.0
    stops[1].color = srgb_to_linear(sky["zenith"]) + [1.0]
    horizon = stops.new(0.5)
    horizon.color = srgb_to_linear(sky["horizon"]) + [1.0]
    background = nodes["Background"]
    background.inputs["Strength"].default_value = sky["strength"]
    links.new(coords.outputs["Generated"], split.inputs["Vector"])
    links.new(split.outputs["Z"], height.inputs["Value"])
    links.new(height.outputs["Result"], ramp.inputs["Factor"])
    links.new(ramp.outputs["Color"], background.inputs["Color"])
    # A small fixed importance map: the default rebuilds a large one every render (~0.4 s
    # at preview sizes) for a smooth gradient that does not need it; same image quality.
    world.cycles.sampling_method = "MANUAL"
    world.cycles.sample_map_resolution = 64
    scene.view_settings.exposure = LIGHTING["exposure"]
    fog = LIGHTING.get("fog")
    if fog and fog["density"] > 0:
        build_fog(fog)


def build_fog(fog):
    """Haze seen by the camera: a volume box (no surface) over the scene that absorbs
    and glows in the fog colour, so a surface at distance d shows through as
    exp(-density * d) (Koschmieder's law; visibility about 3 / density metres).
    Only camera rays see it: sunlight and shadows stay as they were."""
    bm = bmesh.new()
    bmesh.ops.create_cube(bm, size=1.0)
    bmesh.ops.translate(bm, verts=bm.verts, vec=(0.0, 0.0, 0.5))
    mesh = bpy.data.meshes.new("fog")
    bm.to_mesh(mesh)
    bm.free()
    box = bpy.data.objects.new("fog", mesh)
    box.scale = (4000.0, 4000.0, fog["height_m"])
    box.location = (0.0, 0.0, -1.0)
    mat = bpy.data.materials.new("fog")
    nodes = mat.node_tree.nodes
    links = mat.node_tree.links
    nodes.remove(nodes["Principled BSDF"])
    absorb = nodes.new("ShaderNodeVolumeAbsorption")
    absorb.inputs["Color"].default_value = (0.0, 0.0, 0.0, 1.0)
    absorb.inputs["Density"].default_value = fog["density"]
    glow = nodes.new("ShaderNodeEmission")
    glow.inputs["Color"].default_value = srgb_to_linear(fog["color"]) + [1.0]
    glow.inputs["Strength"].default_value = fog["density"]
    both = nodes.new("ShaderNodeAddShader")
    ray = nodes.new("ShaderNodeLightPath")
    camera_only = nodes.new("ShaderNodeMixShader")
    links.new(absorb.outputs[0], both.inputs[0])
    links.new(glow.outputs[0], both.inputs[1])
    links.new(ray.outputs["Is Camera Ray"], camera_only.inputs[0])
    links.new(both.outputs[0], camera_only.inputs[2])
    links.new(camera_only.outputs[0], nodes["Material Output"].inputs["Volume"])
    mesh.materials.append(mat)
    bpy.context.scene.collection.objects.link(box)
'''

SCENE_CODE = '''
def build_scene():
    """Build the whole scene into the current (empty) file and set render settings."""
    scene = bpy.context.scene
    objects = build_geometry()
    build_materials(objects)
    build_composition(objects)
    build_lighting()
    scene.render.engine = RENDER["engine"]
    scene.render.resolution_x = RENDER["width"]
    scene.render.resolution_y = RENDER["height"]
    scene.render.resolution_percentage = 100
    scene.cycles.samples = RENDER["samples"]
    scene.cycles.seed = RENDER["seed"]
    # OpenImageDenoise where RENDER asks (seig's reconstructions do): at a few samples a surface
    # lit only by the sky speckles. Balanced quality with the fast prefilter costs ~10-20 % of a
    # 16-sample preview render and leaves about a third of the speckle (rms against 512 samples).
    scene.cycles.use_denoising = bool(RENDER.get("denoise", False))
    scene.cycles.denoising_quality = "BALANCED"
    scene.cycles.denoising_prefilter = "FAST"
    scene.cycles.use_adaptive_sampling = False  # as seig's workers render: the same picture standalone
    scene.view_settings.view_transform = "Standard"
    scene.display_settings.display_device = "sRGB"
    return objects
'''

# The only code in a program allowed to touch files: it runs when the program is run
# standalone, never inside a seig worker (there __name__ is not "__main__"). The sandbox
# exempts a block that is AST-identical to this one and rejects any other __name__ use.
MAIN_CODE = '''
if __name__ == "__main__":
    import sys

    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    bpy.ops.wm.read_factory_settings(use_empty=True)
    build_scene()
    if "--render" in argv:
        import os

        bpy.context.scene.render.filepath = os.path.abspath(argv[argv.index("--render") + 1])
        bpy.ops.render.render(write_still=True)
'''

HEADER_IMPORTS = "import math\n\nimport bpy  # first: the bpy wheel makes bmesh importable\nimport bmesh\n"
