"""Stand-in for the get-pip.py that ansible-test downloads: bootstrap pip with ensurepip, then let pip install
the pip version ansible-test asked for (from the package index, like any other requirement)."""

import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
