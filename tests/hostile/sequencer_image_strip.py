# expect: rejected
# tries: the video sequencer reads an image from any path into the render, path passed positionally (a hole)
# rule: bpy-api
import bpy

editor = bpy.context.scene.sequence_editor_create()
editor.strips.new_image("leak", "/root/secret.png", 1, 1)
