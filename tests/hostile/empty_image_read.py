# expect: rejected
# tries: load any image file into the scene via object.empty_image_add (allowed family; a hole), path smuggled in through **
# rule: bpy-api
import bpy

bpy.ops.object.empty_image_add(**{"file" + "path": "/root/secret.png"})
