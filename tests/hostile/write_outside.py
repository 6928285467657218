# expect: rejected
# tries: write a file outside the worker's temporary directory with open()
# rule: builtin
with open("/tmp/seig-hostile-target/pwned.txt", "w") as fh:
    fh.write("pwned")
