# expect: rejected
# tries: bpy.context.copy() with a computed key to reach preferences without the word (found as a hole)
# rule: bpy-context
import bpy

prefs = bpy.context.copy()["pref" + "erences"]
print(prefs.system.memory_cache_limit)
prefs.view.show_splash = False
