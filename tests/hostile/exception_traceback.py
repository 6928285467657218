# expect: rejected
# tries: a caught exception's traceback frame to climb into the worker's frames
# rule: dunder
try:
    1 / 0
except ZeroDivisionError as err:
    frame = err.__traceback__.tb_frame
    while frame is not None:
        print(frame.f_locals.keys())
        frame = frame.f_back
