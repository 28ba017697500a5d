"""The `local` cloud: nodes as local processes, started and stopped by Terraform's `local` module.

`python -m ccds_cli.localcloud start|stop|status` is what the module's provisioners run; `node`
holds the logic, `nginx` the media engine, `procs` the process bookkeeping.
"""
