# expect: rejected
# tries: render to a path the worker did not choose
# rule: bpy-api
import bpy

bpy.context.scene.render.filepath = "/tmp/seig-hostile-target/pwned.png"
bpy.ops.render.render(write_still=True)
