# expect: contained
# tries: allocate memory until the machine runs out (RLIMIT_AS turns it into a MemoryError)
import bpy

blocks = []
while True:
    blocks.append(bytes(50_000_000))
