# expect: rejected
# tries: the same through an alias of the module, so no assignment is written as math.NAME
# rule: module-state
import math

import bpy

shared = math
shared.radians = abs
