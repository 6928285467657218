# expect: rejected
# tries: an async generator's ag_frame.f_back.f_locals (no dunder anywhere) reach the child's `limits.os` (a hole: it ran `touch`)
# rule: async
import bpy


async def probe():
    frame = agen.ag_frame.f_back
    while frame is not None:
        found = frame.f_locals.get("limits")
        if found is not None:
            found.os.system("touch /tmp/seig-hostile-target/pwned-agen")
            break
        frame = frame.f_back
    yield 1


agen = probe()
try:
    agen.asend(None).send(None)
except StopIteration:
    pass
