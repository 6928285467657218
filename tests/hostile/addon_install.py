# expect: rejected
# tries: install and enable an add-on from a file
# rule: bpy-ops
import bpy

bpy.ops.preferences.addon_install(filepath="/tmp/seig-hostile-target/evil_addon.py")
bpy.ops.preferences.addon_enable(module="evil_addon")
