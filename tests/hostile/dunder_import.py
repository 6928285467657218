# expect: rejected
# tries: __import__ called directly to load os
# rule: dunder
__import__("os").system("touch /tmp/seig-hostile-target/pwned-import")
