# expect: rejected
# tries: a match class pattern reads __traceback__ with no attribute node, then tb_frame/f_locals reach the child's `limits.os` (a hole: it ran `touch`)
# rule: dunder
import bpy

try:
    1 / 0
except ZeroDivisionError as err:
    match err:
        case ZeroDivisionError(__traceback__=tb):
            frame = tb.tb_frame
            while frame is not None:
                found = frame.f_locals.get("limits")
                if found is not None:
                    found.os.system("touch /tmp/seig-hostile-target/pwned-match")
                    break
                frame = frame.f_back
