"""The test bench: what the tests (tests/) and the benchmarks (bench/) both drive. Not shipped.

setup.py packages runtime, export, calibration, ros_bridge and training only; testbed lives beside them
in the checkout, and pytest (the repository root is its rootdir) and the bench scripts (they put the
root on sys.path) import it from there.

  artifacts.py      tiny torch-free artifacts (a 3-node ONNX classifier + manifest) and a moving-square video
  tiny_videotext.py tiny random-init X-CLIP / CLIP checkpoints with a real (small) CLIP BPE tokenizer
  cameras/          loopback cameras: MJPEG over HTTP (in-process), RTSP (a GStreamer child process)
  faults/           fault injection: damaged artifacts, camera unplug/replug, the soak, the crash-proof
                    case runner (hostile inputs in a child process)
  serving/          a real Triton server (PyTriton, Python 3.12 venv) started and stopped by process id
  proc.py           this process's /proc/self/status counters (RSS, threads)
  sample_log.py     per-second memory samples in preallocated arrays (bench_cpu_rss.py's own storage)
  smaps.py          a process's RSS split by kind of mapping (/proc/self/smaps)
  view.py           the part of a camera frame the model sees (crop geometry of the stream benchmarks)

Layering: testbed imports runtime (and torch/transformers lazily, inside the functions that build tiny
Hugging Face models); it never imports tests or bench, and runtime never imports it. Where a needed
package is missing, builders call pytest.importorskip, so a test skips with the reason; the bench scripts
run in the same dev environment, where pytest is installed.
"""
