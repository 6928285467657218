# expect: rejected
# tries: register a draw handler on a space type (a callback Blender calls later)
# rule: bpy-api
import bpy

bpy.types.SpaceView3D.draw_handler_add(print, (), "WINDOW", "POST_VIEW")
