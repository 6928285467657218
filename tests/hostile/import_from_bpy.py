# expect: rejected
# tries: `from bpy import app` so that `handlers` is reached from an alias, not bpy.app
# rule: import
from bpy import app

app.handlers.render_pre.append(print)
