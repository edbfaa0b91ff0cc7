"""Small helpers shared by the runtime, export and calibration that are not a stage of the data flow.

comparator.py  one comparison of model outputs for every numerical gate
hints.py       how an error message names a setting, in the syntax the user typed
quiet.py       third-party log lines kept out of a command line's output
cv.py          OpenCV, imported once with an error that names the fix
onnx_order.py  node order of an ONNX graph (each node after its producers)
"""
