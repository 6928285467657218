# expect: rejected
# tries: link data from another .blend file (which may carry drivers and scripts)
# rule: bpy-api
import bpy

with bpy.data.libraries.load("/tmp/seig-hostile-target/evil.blend") as (data_from, data_to):
    data_to.texts = data_from.texts
