# expect: rejected
# tries: define and register an operator class (how add-ons hook into Blender)
# rule: class
import bpy


class Evil(bpy.types.Operator):
    bl_idname = "object.evil"
    bl_label = "evil"

    def execute(self, context):
        return {"FINISHED"}


bpy.utils.register_class(Evil)
