"""The whole loop on the public API: source → frame → clip → model → result → print and overlay.

    python examples/action_loop.py                          # bundled model, synthetic demo camera, 10 s
    python examples/action_loop.py build/my-model 0 --save actions.mp4 --seconds 30    # camera 0

(`python export/build_engine.py --overwrite` writes build/videomae-motion first.) The source is any
spec `open_source` takes: a camera index, a video file, rtsp://..., csi://0, synthetic.
`runtime.recognize()` and `python -m runtime.stream` run this same loop with a capture thread per
camera and batching across cameras; this is the loop written out.
"""

import argparse

import cv2

import runtime

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("artifact", nargs="?", default="build/videomae-motion")
parser.add_argument("source", nargs="?", default="synthetic")
parser.add_argument("--save", metavar="MP4", help="write the frames with the current action drawn on them")
parser.add_argument("--seconds", type=float, default=10.0, help="stop after this much of the source's time")
args = parser.parse_args()

model = runtime.open_model(args.artifact)                      # hash-checked; the best backend here
recognizer = model.recognizer(runtime.RecognizerConfig())      # sampling and labels from the manifest
writer, latest, start = None, None, None
with runtime.open_source(args.source) as source:
    for frame in source:                                       # blocks until the newest frame arrives
        window = recognizer.prepare(frame, live=source.live)   # preprocessed once, into the clip ring
        for result in recognizer.run([window] if window else []):   # a window fell due: classify it
            latest = result
            events = " ".join(f"[{event.kind} {event.label}]" for event in result.events)
            print(f"{result.label:>16} {result.score:.2f}  {result.latency_ms:5.0f} ms  {events}")
        if args.save:
            image = runtime.draw_result(frame.image, latest)
            if writer is None:
                writer = cv2.VideoWriter(args.save, cv2.VideoWriter_fourcc(*"mp4v"), 30.0, image.shape[1::-1])
            writer.write(image)
        start = frame.timestamp if start is None else start
        if frame.timestamp - start >= args.seconds:
            break
model.close()
if writer is not None:
    writer.release()
