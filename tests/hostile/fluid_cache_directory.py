# expect: rejected
# tries: a fluid domain whose cache directory is outside the workdir (written while the frame evaluates)
# rule: bpy-api
import bpy

bpy.ops.mesh.primitive_cube_add()
domain = bpy.context.active_object
domain.modifiers.new("fluid", "FLUID")
domain.modifiers["fluid"].fluid_type = "DOMAIN"
domain.modifiers["fluid"].domain_settings.cache_directory = "/tmp/seig-hostile-target/fluid"
