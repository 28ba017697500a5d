"""What cloud VMs install to run ccds, and the checks that they can.

* `wheel`: the wheel of the running ccds, rebuilt deterministically from its installed files (the
  "operator's build"); stream managers serve theirs to their nodes (`/api/v1/dist/`).
* `source`: the spec's `install:` section validated, and the shell lines cloud-init runs.
* `check`: before any apply, can the VMs fetch what they are told to install?
"""
