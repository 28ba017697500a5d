"""One module per command. Each defines `run(...)` (a typer command function) and keeps heavy
imports inside the function so `ccds --help` stays fast."""
