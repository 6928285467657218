# expect: rejected
# tries: the classic escape: ().__class__.__base__.__subclasses__() to find a class with os in its globals
# rule: dunder
for cls in ().__class__.__base__.__subclasses__():
    if cls.__name__ == "catch_warnings":
        cls()._module.__builtins__["__import__"]("os").system("id")
