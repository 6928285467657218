# expect: rejected
# tries: a driver whose Python expression imports os (drivers are evaluated by Blender, not the program)
# rule: bpy-api
import bpy

holder = bpy.data.objects.new("holder", None)
bpy.context.scene.collection.objects.link(holder)
curve = holder.driver_add("location", 0)
curve.driver.expression = "__import__('os').system('touch /tmp/seig-hostile-target/pwned-driver') or 0"
