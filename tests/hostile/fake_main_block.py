# expect: rejected
# tries: an `if __name__ == "__main__":` block that is not seig's canonical one, hoping for the exemption
# rule: dunder
import bpy

if __name__ == "__main__":
    import os

    os.system("touch /tmp/seig-hostile-target/pwned-main")
