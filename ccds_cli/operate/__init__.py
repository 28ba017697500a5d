"""`ccds operate`: the controller that makes a deployment run itself.

observe (`observe.py`: stream managers, cloud inventory, clock, deployment state) -> decide
(`policy.py`, pure) -> act (`actuator.py`: Terraform through the deployment layer; node states
through the managers), every `operate.interval`, by one controller at a time (a lease in the
managers' database). Memory and the block list persist in `.ccds/<name>/operate.db` (`state.py`).
"""
