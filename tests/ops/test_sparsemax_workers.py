"""Chunks of HSPA attention solved on worker threads give the same bits as one thread, in order."""

from __future__ import annotations

import pytest
import torch

from attnsr.errors import ConfigError
from attnsr.models import hspan
from attnsr.ops.sparsemax import sparsemax_attention


def _qkv(n: int, positions: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # scaled so that supports range from a few keys to dozens (both the fast path and wide rows)
    q = torch.randn(n, positions, 8, generator=g) * torch.linspace(0.2, 1.5, positions)[None, :, None]
    k = torch.randn(n, 8, positions, generator=g)
    v = torch.randn(n, positions, 5, generator=g)
    return q, k, v


@pytest.mark.parametrize("workers", [2, 3, 5])
@pytest.mark.parametrize("chunk", [17, 64, None])
def test_workers_bit_identical_to_one_thread(workers: int, chunk: int | None) -> None:
    q, k, v = _qkv(2, 300, 0)  # 300 keys: padded to 320, so the -inf padding is in play
    with torch.no_grad():
        one = sparsemax_attention(q, k, v, topk=16, chunk_size=chunk, workers=1)
        many = sparsemax_attention(q, k, v, topk=16, chunk_size=chunk, workers=workers)
    assert torch.equal(one, many)


def test_worker_count_follows_torch_threads_and_is_restored() -> None:
    q, k, v = _qkv(1, 200, 1)
    before = torch.get_num_threads()
    with torch.no_grad():
        one = sparsemax_attention(q, k, v, topk=8, chunk_size=32, workers=1)
        try:
            torch.set_num_threads(2)
            auto = sparsemax_attention(q, k, v, topk=8, chunk_size=32)
            assert torch.get_num_threads() == 2  # the workers' single-thread setting does not leak
        finally:
            torch.set_num_threads(before)
    assert torch.equal(one, auto)


def test_hspan_forward_same_bits_with_two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = hspan.HSPAN(hspan.HSPANConfig(n_resgroups=2, n_resblocks=1, n_feats=16, topk=8, chunk_size=40)).eval()
    x = torch.rand(1, 3, 14, 15)
    seen: list[int | None] = []

    def attention(*args: object, **kwargs: object) -> torch.Tensor:
        seen.append(kwargs.get("workers"))  # type: ignore[arg-type]
        return sparsemax_attention(*args, **kwargs)  # type: ignore[arg-type]

    with torch.no_grad():
        ref = model(x)
        model.set_attention(workers=2)
        monkeypatch.setattr(hspan, "sparsemax_attention", attention)
        out = model(x)
    assert seen == [2, 2]
    assert torch.equal(ref, out)


def test_gradients_unchanged_by_workers() -> None:
    """With autograd the chunks run in order on the calling thread, whatever ``workers`` says."""
    q, k, v = _qkv(1, 90, 2)
    grads = []
    for workers in (1, 2):
        qq = q.clone().requires_grad_(True)
        sparsemax_attention(qq, k, v, topk=8, chunk_size=20, workers=workers).square().sum().backward()
        grads.append(qq.grad)
    assert torch.equal(grads[0], grads[1])


def test_bad_worker_count() -> None:
    q, k, v = _qkv(1, 10, 3)
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        sparsemax_attention(q, k, v, topk=4, workers=0)
