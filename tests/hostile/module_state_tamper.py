# expect: rejected
# tries: replace functions in shared modules so the next job (another image's program, same warm process) runs this code
# rule: module-state
import math
import random

import bpy


def hijacked(*args, **kwargs):
    print("running inside someone else's job")
    return 0.0


math.radians = hijacked
random.random = hijacked
bpy.types.Mesh.from_pydata = hijacked
