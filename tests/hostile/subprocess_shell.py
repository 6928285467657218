# expect: rejected
# tries: run a shell command through subprocess
# rule: import
import subprocess

subprocess.run("touch /tmp/seig-hostile-target/pwned-subprocess", shell=True)
