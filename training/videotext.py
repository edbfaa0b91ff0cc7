"""Train the bundled video-text model: `python -m training.videotext --out models/videotext-motion`.

A small 3D-conv video tower learns to land where a frozen, pretrained sentence encoder
(all-MiniLM-L6-v2) puts the clip's caption: a multi-positive contrastive loss over the captions
of each batch (a caption that leaves out the colour matches every clip of that motion). Clips are
rendered fresh every step from the synthetic world. Evaluation uses clips with unseen seeds and
paraphrased captions the training never saw. Fixed seeds; 75 minutes on two shared CPU cores
(the bundled model's run, another training job beside it for most of it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HELDOUT_SEED = 7_000_000  # held-out clips use seeds from here; training seeds stay far below
STREAM_SEED_BASE = 5_000_000  # training streams: far from the seeds any test, doc or benchmark streams


@dataclass(frozen=True)
class Recipe:
    seed: int = 0
    steps: int = 5000
    batch: int = 48
    lr: float = 2e-3
    partial: float = 0.3  # share of captions that leave out colour or shape
    heldout_per_class: int = 10
    threads: int = 2
    # Every rendered clip beside itself played backwards, captioned as its time-reversed twin. The
    # pair differs only in temporal order, so order is the one cue that tells their captions apart
    # (without it the tower learned "rotating" and guessed the direction).
    reversed_twins: bool = True
    # Share of each batch cut from demo-camera streams of training's own seeds (the scales, edges
    # and onsets a robot's camera shows and no single clip does), each window with its reversal.
    stream_share: float = 0.5
    stream_frames: int = 1000  # frames per training stream; a new stream once its windows are used
    full_frame: bool = True  # squeeze each camera frame whole (TowerConfig.full_frame)
    init: str | None = None  # a tower folder to start from (its sizes; full_frame is this recipe's)


def embed_texts(encoder, folder, texts: list[str], max_length: int, batch: int = 256) -> np.ndarray:
    import torch

    from export.models.videotext_motion import tokenize

    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch):
            ids, mask = tokenize(folder, texts[start:start + batch], max_length)
            out.append(encoder(ids, mask).numpy())
    return np.concatenate(out).astype(np.float32)


def _loss(video, text, positives, scale):
    """Multi-positive InfoNCE both ways: -log of the probability mass on the true matches."""
    import torch

    logits = scale * video @ text.T
    pos = positives.float()
    v2t = -(torch.logsumexp(logits.masked_fill(~positives, -1e4), 1) - torch.logsumexp(logits, 1))
    t2v = -(torch.logsumexp(logits.T.masked_fill(~positives.T, -1e4), 1) - torch.logsumexp(logits.T, 1))
    has_pos = pos.sum(0) > 0
    return v2t.mean() + t2v[has_pos].mean()


def train(recipe: Recipe, out: Path, log=print) -> dict:
    import torch
    from tqdm import tqdm

    from export.models.videotext_motion import sentence_encoder, text_model_dir
    from training.videotext_data import all_train_captions, caption

    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.threads)
    rng = np.random.default_rng(recipe.seed)
    tower, config, scale = _start(recipe)
    folder = text_model_dir()
    started = time.time()
    encoder = sentence_encoder(folder)
    captions = all_train_captions()
    log(f"embedding {len(captions)} training captions with the frozen text encoder")
    table = torch.from_numpy(embed_texts(encoder, folder, captions, config.text_max_length))
    index = {text: i for i, text in enumerate(captions)}
    logit_scale = torch.nn.Parameter(torch.tensor(float(np.log(scale))))
    optim = torch.optim.AdamW(list(tower.parameters()) + [logit_scale], lr=recipe.lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=recipe.lr, total_steps=recipe.steps, pct_start=0.1)
    stream = _StreamPool(recipe, config)
    tower.train()
    bar = tqdm(range(recipe.steps), desc="training video tower", unit="step")
    for step in bar:
        pixels, attrs = _batch(recipe, config, step, rng, stream)
        said = [caption(a, rng, partial=recipe.partial) for a in attrs]
        texts = sorted({t for t, _ in said})
        stated = {t: s for t, s in said}
        positives = torch.tensor([[stated[t].matches(a) for t in texts] for a in attrs])
        video = torch.nn.functional.normalize(tower(torch.from_numpy(pixels)), dim=-1)
        text = table[[index[t] for t in texts]]
        loss = _loss(video, text, positives, logit_scale.exp().clamp(max=100))
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{logit_scale.exp().item():.1f}")
    tower.eval()
    metrics = evaluate(tower, encoder, folder, config, recipe)
    metrics["train_seconds"] = round(time.time() - started, 1)
    metrics["logit_scale"] = float(logit_scale.exp().clamp(max=100).item())
    save(out, tower, config, recipe, metrics)
    return metrics


def _start(recipe: Recipe):
    """The tower, its config and the logit scale to start from: fresh, or `recipe.init`'s."""
    from dataclasses import replace

    from export.models.videotext_motion import TowerConfig, build_tower, load_tower

    if recipe.init is None:
        config = TowerConfig(full_frame=recipe.full_frame)
        return build_tower(config), config, 1 / 0.07
    tower, config = load_tower(Path(recipe.init))
    trained = json.loads((Path(recipe.init) / "training.json").read_text(encoding="utf-8"))
    return tower, replace(config, full_frame=recipe.full_frame), float(trained["metrics"]["logit_scale"])


SEED_SPAN = 10_000_000  # render seeds of recipe seed s start at s * SEED_SPAN


def render_seeds(recipe: Recipe, step: int) -> list[int]:
    """The render seeds of the clips rendered at `step` (one per clip, before the reversals)."""
    rendered, _ = split_batch(recipe)
    return (recipe.seed * SEED_SPAN + step * recipe.batch + np.arange(rendered)).tolist()


def renders_seed(recipe: Recipe, seed: int) -> bool:
    """Whether training on `recipe` renders a clip with render seed `seed` at any of its steps: an
    evaluation clip of that seed would share a training clip's actor and scene draws."""
    rendered, _ = split_batch(recipe)
    step, k = divmod(seed - recipe.seed * SEED_SPAN, recipe.batch)
    return 0 <= step < recipe.steps and k < rendered


def split_batch(recipe: Recipe) -> tuple[int, int]:
    """(clips rendered, stream windows) in one step's batch, before each is joined by its reversal."""
    pairs = 2 if recipe.reversed_twins else 1
    from_stream = int(round(recipe.batch * recipe.stream_share / 2)) if recipe.stream_share > 0 else 0
    rendered = (recipe.batch - 2 * from_stream) // pairs
    if rendered < 1 or (recipe.stream_share > 0 and from_stream < 1):
        raise ValueError(f"a batch of {recipe.batch} cannot hold {recipe.stream_share:.0%} stream windows "
                         f"and rendered clips{' with their reversals' if recipe.reversed_twins else ''}")
    return rendered, from_stream


def _batch(recipe: Recipe, config, step: int, rng: np.random.Generator, stream: "_StreamPool"):
    """float32 tower input (B, 3, T, S, S) and the Attributes of each clip in it."""
    from runtime.world import ACTIONS, REVERSED
    from training.videotext_data import Attributes, clip_attributes, render_batch, to_pixels

    rendered, from_stream = split_batch(recipe)
    actions = [ACTIONS[i] for i in rng.integers(len(ACTIONS), size=rendered)]
    seeds = render_seeds(recipe, step)
    attrs = [clip_attributes(a, s) for a, s in zip(actions, seeds)]
    clips = render_batch(actions, seeds, config.num_frames, config.image_size)
    if recipe.reversed_twins:
        clips = np.concatenate([clips, clips[:, ::-1]])
        attrs += [Attributes(REVERSED[a.action], a.color, a.shape) for a in attrs]
    pixels = to_pixels(clips, config)
    if from_stream:
        more, more_attrs = stream.take(from_stream)
        pixels, attrs = np.concatenate([pixels, more]), attrs + more_attrs
    return pixels, attrs


STREAM_EVERY = 3  # a training window starts every 3rd stream frame


def _check_stream_holds(stream_frames: int, num_frames: int, wanted: int) -> None:
    """Refuse a stream too short to give one step its `wanted` windows (else batches would shrink)."""
    held = max(0, (stream_frames - num_frames) // STREAM_EVERY + 1)
    if held < wanted:
        raise ValueError(f"a training stream of {stream_frames} frames holds {held} windows of {num_frames} frames, "
                         f"fewer than the {wanted} one step takes; raise --stream-frames")


class _StreamPool:
    """Windows of training's own demo-camera streams, dealt out in a shuffled order, each beside its
    reversal; a fresh stream once one's windows are used."""

    def __init__(self, recipe: Recipe, config):
        self.recipe, self.config, self.made = recipe, config, 0
        self.rng = np.random.default_rng(recipe.seed + 17)
        self.pixels, self.attrs, self.order = None, [], []

    def take(self, n: int) -> tuple[np.ndarray, list]:
        from training.videotext_data import stream_captioned_windows

        if len(self.order) < n:
            seed = STREAM_SEED_BASE + self.recipe.seed * 1000 + self.made
            self.made += 1
            _check_stream_holds(self.recipe.stream_frames, self.config.num_frames, n)
            windows = stream_captioned_windows(seed, self.config, self.recipe.stream_frames, every=STREAM_EVERY,
                                               reversed_too=True)
            self.pixels, self.attrs = windows.pixels, windows.attributes
            self.order = list(self.rng.permutation(len(self.attrs) // 2))
        picked, self.order = self.order[:n], self.order[n:]
        half = len(self.attrs) // 2
        rows = picked + [i + half for i in picked]  # each window, then the same windows played backwards
        return self.pixels[rows], [self.attrs[i] for i in rows]


def evaluate(tower, encoder, folder, config, recipe: Recipe) -> dict:
    """Retrieval R@1 on unseen clips with paraphrased captions, and zero-shot action accuracy."""
    import torch

    from runtime.world import ACTIONS, REVERSED
    from training.videotext_data import LABEL_PROMPTS, caption, clip_attributes, render_batch, to_pixels

    rng = np.random.default_rng(recipe.seed + 1)
    actions = [a for _ in range(recipe.heldout_per_class) for a in ACTIONS]
    seeds = (HELDOUT_SEED + np.arange(len(actions))).tolist()
    attrs = [clip_attributes(a, s) for a, s in zip(actions, seeds)]
    texts = [caption(a, rng, heldout=True)[0] for a in attrs]
    with torch.no_grad():
        pixels = torch.from_numpy(to_pixels(render_batch(actions, seeds, config.num_frames, config.image_size), config))
        video = torch.nn.functional.normalize(tower(pixels), dim=-1).numpy()
    text = embed_texts(encoder, folder, texts, config.text_max_length)
    sim = video @ text.T
    same = np.array([[a == b for b in attrs] for a in attrs])  # identical captions count as hits
    action_same = np.array([[a.action == b.action for b in attrs] for a in attrs])
    prompts = embed_texts(encoder, folder, [LABEL_PROMPTS[a] for a in ACTIONS], config.text_max_length)
    predicted = (video @ prompts.T).argmax(1)
    zero_shot = predicted == np.array([ACTIONS.index(a) for a in actions])
    has_twin = np.array([REVERSED[a] != a for a in actions])
    as_twin = predicted == np.array([ACTIONS.index(REVERSED[a]) for a in actions])
    rows = np.arange(len(attrs))
    return {
        "heldout_clips": len(attrs),
        "video_to_text_r1": float(same[rows, sim.argmax(1)].mean()),
        "text_to_video_r1": float(same[sim.argmax(0), rows].mean()),
        "video_to_text_r5": float(np.mean([same[i, np.argsort(-sim[i])[:5]].any() for i in rows])),
        "video_to_text_action_r1": float(action_same[rows, sim.argmax(1)].mean()),
        "zero_shot_action_accuracy": float(zero_shot.mean()),
        "zero_shot_twin_confusion": float(as_twin[has_twin].mean()),
        "chance_r1": float(same.mean()),
        "example_heldout_captions": texts[:6],
    }


def save(out: Path, tower, config, recipe: Recipe, metrics: dict) -> None:
    from safetensors.torch import save_file

    from runtime.world import ACTIONS, SyntheticStream
    from training.videotext_data import LABEL_PROMPTS

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in tower.state_dict().items()}
    save_file(state, str(out / "model.safetensors"))
    config.save(out)
    (out / "prompts.txt").write_text("".join(LABEL_PROMPTS[a] + "\n" for a in ACTIONS), encoding="utf-8")
    # The prompts of the world's background (its pauses): no action events, no onsets (read by export).
    (out / "background.txt").write_text("".join(LABEL_PROMPTS[a] + "\n" for a in SyntheticStream.background),
                                        encoding="utf-8")
    (out / "training.json").write_text(json.dumps({"recipe": asdict(recipe), "metrics": metrics}, indent=2) + "\n",
                                       encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.videotext", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m training.videotext --out models/videotext-motion\n"
               "  python -m training.videotext --out /tmp/quick --steps 50   # a smoke run")
    parser.add_argument("--out", type=Path, required=True, help="folder for model.safetensors, config.json, prompts.txt")
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    parser.add_argument("--batch", type=int, default=Recipe.batch)
    parser.add_argument("--seed", type=int, default=Recipe.seed)
    parser.add_argument("--threads", type=int, default=Recipe.threads)
    parser.add_argument("--lr", type=float, default=Recipe.lr, help="peak learning rate (one-cycle schedule)")
    parser.add_argument("--reversed-twins", action=argparse.BooleanOptionalAction, default=Recipe.reversed_twins,
                        help="each rendered clip beside its reversal, captioned as its time-reversed twin")
    parser.add_argument("--stream-share", type=float, default=Recipe.stream_share,
                        help="share of each batch cut from training's own demo-camera streams (0 to 1)")
    parser.add_argument("--stream-frames", type=int, default=Recipe.stream_frames,
                        help="frames of each training stream (a new one once its windows are used)")
    parser.add_argument("--full-frame", action=argparse.BooleanOptionalAction, default=Recipe.full_frame,
                        help="squeeze each camera frame whole into the tower's square (else centre crop)")
    parser.add_argument("--init", type=Path, default=None,
                        help="a trained tower folder to start from (e.g. models/videotext-motion)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch < 2:
        parser.error("--steps must be >= 1 and --batch >= 2")
    if not 0 <= args.stream_share < 1:
        parser.error("--stream-share must be in [0, 1)")
    if args.init is not None and not (args.init / "model.safetensors").is_file():
        parser.error(f"--init {args.init} has no model.safetensors")
    if args.init is not None and args.init.resolve() == args.out.resolve():
        parser.error("--init and --out are the same folder: training would overwrite what it starts from")
    recipe = Recipe(seed=args.seed, steps=args.steps, batch=args.batch, threads=args.threads, lr=args.lr,
                    reversed_twins=args.reversed_twins, stream_share=args.stream_share,
                    stream_frames=args.stream_frames, full_frame=args.full_frame,
                    init=None if args.init is None else str(args.init))
    try:
        _, from_stream = split_batch(recipe)
        if from_stream:
            from export.models.videotext_motion import TowerConfig

            frames = (TowerConfig.load(args.init) if args.init is not None else TowerConfig()).num_frames
            _check_stream_holds(recipe.stream_frames, frames, from_stream)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        metrics = train(recipe, args.out)
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: v for k, v in metrics.items() if k != "example_heldout_captions"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
