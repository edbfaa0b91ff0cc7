"""The procedural motion world: training clips, a demo camera, and ground truth for streaming.

    from runtime.world import ACTIONS, SyntheticStream, make_clips, render_clip

    clips, labels = make_clips(4, num_frames=16, height=64, width=64, seed=0)  # labelled clips
    stream = SyntheticStream(seed=3, num_frames=900)                           # the demo camera
    stream.label_at(120)                                                       # its ground truth

- actions.py: the actions and their time-reversed twins, the actor (palette, shapes, speeds) and
  the poses of each action;
- render.py: drawing the world and rendering labelled clips from a seed;
- stream.py: the continuous scene and its ground-truth timeline.

`runtime.sources.synthetic` is the frame source over it (`open_source("synthetic://?seed=3")`).
`python -m runtime.world --out demo.mp4` writes the stream to a video. numpy and OpenCV only.
"""

from runtime.world.actions import (
    ACTIONS, ACTOR_SCALES, PALETTE, REVERSED, SHAPE_NAMES, Actor, action_of, sample_actor)
from runtime.world.render import MAX_SIDE, clip_actor, make_clips, render_clip
from runtime.world.stream import Segment, SyntheticStream

__all__ = ["ACTIONS", "ACTOR_SCALES", "MAX_SIDE", "PALETTE", "REVERSED", "SHAPE_NAMES", "Actor", "Segment",
           "SyntheticStream", "action_of", "clip_actor", "make_clips", "render_clip", "sample_actor"]
