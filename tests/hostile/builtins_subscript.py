# expect: rejected
# tries: reach the real open() through the __builtins__ mapping by subscript
# rule: dunder
real_open = __builtins__["open"]
print(real_open("/etc/passwd").read())
