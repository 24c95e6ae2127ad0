"""`python -m dnerf_core.cli ...` = `dnerf ...`."""
from . import main

main()
