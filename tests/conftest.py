"""Make this checkout importable as ``ansible_collections.kubevirt_net.core``
(a symlink in .build/, so the repository never moves)."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(REPO, ".build")
_link = os.path.join(BUILD, "ansible_collections", "kubevirt_net", "core")
if not os.path.islink(_link):
    os.makedirs(os.path.dirname(_link), exist_ok=True)
    os.symlink(REPO, _link)
if BUILD not in sys.path:
    sys.path.insert(0, BUILD)
