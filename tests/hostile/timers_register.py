# expect: rejected
# tries: register a timer callback that keeps running after the job
# rule: bpy-api
import bpy


def tick():
    print("still here")
    return 0.1


bpy.app.timers.register(tick)
