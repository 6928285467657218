# expect: rejected
# tries: a generator's frame (gi_frame.f_globals / f_back) to climb into the child's own frames
# rule: dunder
def steps():
    yield 1


gen = steps()
frame = gen.gi_frame
print(frame.f_globals, frame.f_back)
