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
def build_materials(objects):
    """A Principled BSDF per object; optional noise varies its brightness (procedural)."""
    for name, spec in MATERIALS.items():
        if name not in objects:
            continue
        mat = bpy.data.materials.new(name)
        nodes = mat.node_tree.nodes
        links = mat.node_tree.links
        bsdf = nodes["Principled BSDF"]
        bsdf.inputs["Base Color"].default_value = srgb_to_linear(spec["color"]) + [1.0]
        bsdf.inputs["Roughness"].default_value = spec["roughness"]
        bsdf.inputs["Metallic"].default_value = spec["metallic"]
        if spec["noise_strength"] > 0:
            noise = nodes.new("ShaderNodeTexNoise")
            noise.inputs["Scale"].default_value = spec["noise_scale"]
            gain = nodes.new("ShaderNodeMath")
            gain.operation = "MULTIPLY_ADD"
            gain.inputs[1].default_value = 2.0 * spec["noise_strength"]
            gain.inputs[2].default_value = 1.0 - spec["noise_strength"]
            tint = nodes.new("ShaderNodeHueSaturation")
            tint.inputs["Color"].default_value = bsdf.inputs["Base Color"].default_value
            links.new(noise.outputs["Factor"], gain.inputs[0])
            links.new(gain.outputs[0], tint.inputs["Value"])
            links.new(tint.outputs["Color"], bsdf.inputs["Base Color"])
        objects[name].data.materials.append(mat)
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
    scene.cycles.use_denoising = False
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
