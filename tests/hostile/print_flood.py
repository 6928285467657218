# expect: contained
# tries: print about 200 MB of output to flood the worker, the record and whoever reads it
import bpy

line = "flood " * 170
for i in range(200_000):
    print(i, line)
