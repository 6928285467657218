# expect: contained
# tries: unbounded recursion to overflow the interpreter's stack
import bpy


def deeper(n):
    return deeper(n + 1) + 1


deeper(0)
