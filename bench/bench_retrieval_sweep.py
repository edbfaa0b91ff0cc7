"""The retrieval exercise (`python -m runtime.videotext.retrieve`) over many render seeds.

Each render seed gives the exercise's 5 synthetic clips (moving left, moving up, approaching,
rotating clockwise, appearing; clip i rendered with seed + i) against its 10 texts (each clip's
description and its time-reversed twin's). Per seed it counts: clips whose best text is their own
description (of 5), own descriptions whose best clip is their clip (of 5; no clip shows a twin
action, so the twin descriptions have no correct clip), and clips whose best text is their twin's
description (of 5). Then mean, min and max over the seeds.

The default seeds (testbed/retrieval_counts.py) are used by no test or doc, lie at least 8 apart, so
no render seed is shared between two runs, and render no clip that training rendered (the bundled
recipe's render seeds lie below 4.8 million; tests/training check it):

    nice python bench/bench_retrieval_sweep.py --artifact build/videotext-motion --json retrieval.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.videotext.retrieve import DESCRIPTIONS, SEED_CLIPS, TWINS, synthetic_clips
from testbed.retrieval_counts import UNSEEN_RENDER_SEEDS, count_hits

COUNTS = ("clips_own", "texts_own", "clips_twin")


def summarize(runs: list[dict]) -> dict:
    """Mean, min and max of each count over the seeds."""
    return {key: {"mean": statistics.fmean(r[key] for r in runs), "min": min(r[key] for r in runs),
                  "max": max(r[key] for r in runs)} for key in COUNTS}


def sweep(artifact: Path, seeds: list[int], backend: str = "cpu") -> list[dict]:
    from runtime.videotext.model import VideoTextModel, retrieve

    texts = [DESCRIPTIONS[a] for a in SEED_CLIPS] + [DESCRIPTIONS[a] for a in TWINS]
    runs = []
    with VideoTextModel(str(artifact), device=backend) as model:
        for seed in seeds:
            clips, _ = synthetic_clips(model.artifact, seed)
            result = retrieve(model, clips, texts)
            runs.append({"seed": seed, **count_hits(result.similarity),
                         "best_text": [int(t) for t in result.best_text]})
    return runs


def markdown(runs: list[dict], summary: dict) -> str:
    lines = ["| render seed | clips → own description | own description → its clip | clips → twin's description |",
             "|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['seed']} | {r['clips_own']}/{r['of']} | {r['texts_own']}/{r['of']} | {r['clips_twin']}/{r['of']} |")
    lines.append("")
    for key, name in zip(COUNTS, ("clips → own description", "own description → its clip", "clips → twin's description")):
        s = summary[key]
        lines.append(f"- {name}: mean {s['mean']:.1f}/{runs[0]['of']} (min {s['min']}, max {s['max']}); "
                     f"{sum(r[key] for r in runs)}/{runs[0]['of'] * len(runs)} pooled")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, default=Path("build/videotext-motion"),
                        help="video_text artifact (default build/videotext-motion: python export/build_engine.py)")
    parser.add_argument("--seeds", default=",".join(map(str, UNSEEN_RENDER_SEEDS)),
                        help="comma-separated render seeds (default: seeds no test or doc uses)")
    parser.add_argument("--backend", default="cpu", help="ONNX Runtime device (default cpu)")
    parser.add_argument("--json", type=Path, help="also write the per-seed counts and summary here")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    if not seeds:
        parser.error("--seeds must name at least one seed")
    if not (args.artifact / "manifest.json").is_file():
        parser.error(f"{args.artifact} is not an artifact folder; run python export/build_engine.py first")
    runs = sweep(args.artifact, seeds, args.backend)
    summary = summarize(runs)
    print(markdown(runs, summary))
    if args.json:
        args.json.write_text(json.dumps({"artifact": str(args.artifact), "runs": runs, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
