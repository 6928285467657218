# mode: os_only
# result: any
# tries: leave the parent a job dir it cannot remove (dirs of mode 0 and 0311, a tree deeper than Python's recursion limit: shutil.rmtree raised RecursionError through the worker), with a set-uid executable in it and the dirs above opened to everyone
import os

os.makedirs("locked/inner", exist_ok=True)
with open("locked/inner/blob", "wb") as fh:
    fh.write(b"x" * 4096)
for label, call in [("set-uid by open mode", lambda: os.close(os.open("suid", os.O_CREAT | os.O_WRONLY, 0o4755))),
                    ("set-gid by open mode", lambda: os.close(os.open("sgid", os.O_CREAT | os.O_WRONLY, 0o2755))),
                    ("mkdir 0311", lambda: os.mkdir("traverse", 0o311)),
                    ("chmod locked 0", lambda: os.chmod("locked", 0)),
                    ("chmod job dir 0777", lambda: os.chmod(".", 0o777)),
                    ("chmod worker dir 0711", lambda: os.chmod("..", 0o711))]:
    try:
        call()
        print(label, "done")
    except OSError as exc:
        print(label, "refused", exc.errno)
top = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
level = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
for _ in range(1200):
    os.mkdir("d", 0o700, dir_fd=level)
    deeper = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=level)
    os.close(level)
    level = deeper
print("deep tree made")
