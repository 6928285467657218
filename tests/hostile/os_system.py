# expect: rejected
# tries: run a shell command through os.system
# rule: import
import os

os.system("touch /tmp/seig-hostile-target/pwned-os-system")
