# expect: contained
# tries: loop forever (passes the static check by design; the worker's wall-clock timeout kills it)
import bpy

count = 0
while True:
    count += 1
