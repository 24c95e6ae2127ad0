"""`python -m dnerf_core.cli ...` = `dnerf ...`."""
from . import main

if __name__ == "__main__":  # importing this module (e.g. walking the package) runs nothing
    main()
