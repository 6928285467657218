# expect: rejected
# tries: a function's __globals__ to reach the scene module's namespace and builtins
# rule: dunder
probe = lambda: 0  # noqa: E731
print(probe.__globals__["__builtins__"])
