"""Fault injection: corrupt.py (damaged artifact copies), unplug.py (camera unplug/replug under a live
source), soak.py (the whole streaming runtime on a camera that drops out), case_runner.py (hostile
inputs run in a child process, so a crash or a hang is a result)."""
