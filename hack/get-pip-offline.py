"""Stand-in for the pip bootstrap script ansible-test downloads.

ansible-test builds its sanity virtualenvs by running a ``get-pip.py`` that it
fetches from a CI file host; these machines reach only the package registries.
This script does the same job from what is here: ``ensurepip`` gives the new
virtualenv a pip, then pip installs the requested pip/setuptools/wheel versions
from PyPI.  hack/test.sh puts it where ansible-test looks for its cached copy.
"""
import subprocess
import sys

OPTIONS_GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"],
                      stdout=subprocess.DEVNULL)
args = [arg for arg in sys.argv[1:] if arg not in OPTIONS_GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
