"""The model shape shared by pretraining and fine-tuning, in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelSpec:
    """A small VideoMAE: sized so a clip costs a few ms in ONNX Runtime on two CPU cores."""

    num_frames: int = 8
    image_size: int = 64
    patch_size: int = 8   # 16 px patches held the whole actor in one token: 50% vs 82% after 100 epochs
    tubelet_size: int = 4  # two temporal slots: at patch 8, tubelet 2 cost 3x the time per step
    hidden_size: int = 128
    num_layers: int = 3
    fps: float = 7.5  # clips span 8 / 7.5 = 1.07 s: motion large enough to see at 64 x 64
    num_heads: int = 4
    intermediate_size: int = 256
    decoder_hidden_size: int = 64
    decoder_layers: int = 2
    decoder_heads: int = 4
    # False: resize the shortest edge to image_size and keep the central square (the HF processor's
    # default; a 4:3 camera loses its left and right eighths). True: the whole frame resized straight
    # to image_size x image_size, so an actor near a wide camera's edge stays in view (squeezed).
    full_frame: bool = False

    @property
    def temporal_slots(self) -> int:
        return self.num_frames // self.tubelet_size

    @property
    def patches_per_slot(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def view(self) -> str:
        """What TRAINING.md and the logs call the preprocessing."""
        return (f"the whole frame resized to {self.image_size}x{self.image_size}" if self.full_frame else
                f"shortest edge resized to {self.image_size}, center crop {self.image_size}x{self.image_size}")

    def videomae_config(self, norm_pix_loss: bool = True, **extra):
        """A `VideoMAEConfig`; mean pooling so pretraining and classifier share encoder keys.

        norm_pix_loss: the masked-patch targets normalized per patch (VideoMAE's default), else the
        patches' pixels in [0, 1]."""
        from transformers import VideoMAEConfig

        return VideoMAEConfig(
            image_size=self.image_size, patch_size=self.patch_size, num_channels=3,
            num_frames=self.num_frames, tubelet_size=self.tubelet_size,
            hidden_size=self.hidden_size, num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads, intermediate_size=self.intermediate_size,
            decoder_hidden_size=self.decoder_hidden_size,
            decoder_num_hidden_layers=self.decoder_layers,
            decoder_num_attention_heads=self.decoder_heads,
            decoder_intermediate_size=4 * self.decoder_hidden_size,
            use_mean_pooling=True, norm_pix_loss=norm_pix_loss, **extra)

    def as_dict(self) -> dict:
        return asdict(self)
