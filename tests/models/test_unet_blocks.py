"""The transformer-block counting rule the fine-tuning spec ("from block N on") relies on."""

from __future__ import annotations

from diffusers.models.transformers.transformer_2d import Transformer2DModel

from dpldm.models import UNetConfig, build_unet, transformer_blocks


def small(**kw) -> UNetConfig:
    base = dict(sample_size=4, block_out_channels=(16, 32), attention_levels=(True, True), layers_per_block=2,
                attention_head_dim=8, cross_attention_dim=16, norm_num_groups=8)
    return UNetConfig(**{**base, **kw})


def test_blocks_counted_down_mid_up_in_forward_order():
    unet = build_unet(small())
    names = [n for n, _ in transformer_blocks(unet)]
    # 2 levels x 2 layers down, 1 mid, 2 levels x 3 layers up.
    assert len(names) == 4 + 1 + 6
    assert names[:4] == ["down_blocks.0.attentions.0", "down_blocks.0.attentions.1",
                         "down_blocks.1.attentions.0", "down_blocks.1.attentions.1"]
    assert names[4] == "mid_block.attentions.0"
    assert names[5:] == [f"up_blocks.{i}.attentions.{j}" for i in range(2) for j in range(3)]


def test_blocks_are_every_transformer_and_match_forward_order():
    unet = build_unet(small())
    blocks = [m for _, m in transformer_blocks(unet)]
    assert set(map(id, blocks)) == {id(m) for m in unet.modules() if isinstance(m, Transformer2DModel)}
    order = []
    hooks = [m.register_forward_hook(lambda m, *_: order.append(id(m))) for m in blocks]
    import torch

    unet(torch.randn(1, 3, 4, 4), torch.tensor([5]), encoder_hidden_states=torch.randn(1, 1, 16))
    for h in hooks:
        h.remove()
    assert order == [id(m) for m in blocks]


def test_levels_without_attention_have_no_blocks():
    unet = build_unet(small(attention_levels=(False, True)))
    names = [n for n, _ in transformer_blocks(unet)]
    assert not any(n.startswith("down_blocks.0") for n in names)
    assert len(names) == 2 + 1 + 3


def test_denoiser_takes_text_token_states():
    import torch

    from dpldm.models import LatentDenoiser, TextProjector

    den = LatentDenoiser(build_unet(small()), TextProjector(text_dim=384, dim=16))
    tokens = torch.randn(2, 7, 384)  # (B, L, text_dim), e.g. MiniLM token states
    eps = den(torch.randn(2, 3, 4, 4), torch.tensor([1, 999]), tokens)
    assert eps.shape == (2, 3, 4, 4)
