"""Exact row-wise sparsemax and the global attention it normalises (HSPAN's "soft thresholding"), as pure
functions. See :mod:`attnsr.models.hspan` for how they differ from the official solver (same outputs up to
float32 rounding) and ``specs/hspan.md`` for the official one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import torch
import torch.nn.functional as F

from attnsr.errors import ConfigError

#: Most elements of one query chunk's score block (rows × padded keys × batch) when ``chunk_size`` is
#: automatic: 2^24 float32 = 64 MiB: bounded memory at any image size, yet >= 256 rows per chunk up to
#: 65,536 positions (fewer rows make the score matmul slow: 24 vs 32 GFLOP/s at 64 vs 256 rows there).
AUTO_CHUNK_ELEMENTS = 1 << 24
#: Most query rows per automatic chunk (256 to 2048 rows measured alike on a 96×96 map).
AUTO_CHUNK_ROWS = 512


# ----------------------------------------------------------------------------------------------------
# Exact sparsemax ("soft thresholding") attention, pure functions.
#
# Fast path (no top-k, no sort over the P keys): sparsemax's threshold τ of a row is at least τ of any
# subset of the row's scores, and a Michelot step (Σ_C z − 1)/|C| over any set C containing a support is a
# lower bound too. Maxima of strided key groups are such subsets; the bounds they give exclude almost all
# keys after one cheap pass over the scores, and exact Michelot steps on the few candidates left reach
# the support, whose τ is then computed in the official rounding. A row whose candidates cannot be
# certified (τ below an exclusion bound, or no candidate: NaN/inf scores) is solved by the official solver.

#: Keys per strided group (keys g, g + P'/4, ...): the candidate search scans P'/4 group maxima.
GROUP = 4
#: Keys per coarse strided group, coarsest first, and the Michelot steps taken on their maxima.
COARSE_GROUPS = ((64, 2), (16, 2))
#: Score columns are padded with -inf up to a multiple of this (every group size divides it).
KEY_ALIGN = 64
#: Relative slack on a lower bound of τ before it excludes keys (guards rounding; only keeps more keys).
SLACK = 1e-4


def sparsemax_threshold(z_desc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Threshold τ and support size K of sparsemax from the leading candidates of each row.

    ``z_desc``: R×k, each row sorted descending (the k largest scores of the row, or all of them).
    Returns τ (R×1, same dtype) and K (R×1, int64) computed as the official solver does:
    c_j = z_1+...+z_j − 1, K = #{j: j·z_j > c_j}, τ = c_K / K. If K == k and the row has more
    than k entries, the true support may be larger and the row must be solved again with more candidates.
    """
    csum = z_desc.cumsum(-1) - 1
    ranks = torch.arange(1, z_desc.shape[-1] + 1, dtype=z_desc.dtype, device=z_desc.device)
    support = (ranks * z_desc > csum).sum(-1, keepdim=True)
    tau = csum.gather(-1, support - 1) / support.to(z_desc.dtype)
    return tau, support


def _wider_windows(scores: torch.Tensor, top: torch.Tensor, tau_low: torch.Tensor, k: int) -> torch.Tensor:
    """Window (k·2^j, j >= 1) that holds the support of rows whose first k candidates were all in it.

    τ = max_j c_j / j, so the τ computed from the first k candidates is a lower bound and every support
    member has score > top + τ_low. Counting those (with a small slack against rounding) gives a window
    that solves the row in one more top-k, where the official code doubles k until it fits.
    """
    slack = SLACK * (1 + top.abs())
    need = (scores > top + tau_low - slack).sum(-1)
    level = (need.to(torch.float64) / k).log2().ceil().clamp(min=1).long()
    return k << level


def _solve_window(
    scores: torch.Tensor, k: int, rows: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Official solver on R×P rows with a k-candidate window: groups (row ids, weights, key ids).

    Candidates: full descending sort when k >= P, else the sorted top k. z = candidates − row max (as the
    reference shifts, for identical rounding); weights clamp(z − τ, 0). Rows whose support fills the whole
    window may have a larger support and are solved again with a wider window (the official growth step,
    which doubles k instead of sizing it).
    """
    n_keys = scores.shape[-1]
    if k >= n_keys:  # official path 1: full descending sort, no window
        vals, idx = scores.sort(-1, descending=True)
    else:  # official path 2: top-k window
        vals, idx = scores.topk(k, dim=-1)
    z = vals - vals[:, :1]
    tau, support = sparsemax_threshold(z)
    weights = (z - tau).clamp(min=0)
    unsolved = (support.squeeze(-1) == k) if k < n_keys else None
    if unsolved is None or not bool(unsolved.any()):
        return [_trim(rows, weights, idx)]
    solved = ~unsolved
    groups = [_trim(rows[solved], weights[solved], idx[solved])] if bool(solved.any()) else []
    rest, rest_rows = scores[unsolved], rows[unsolved]
    widths = _wider_windows(rest, vals[unsolved, :1], tau[unsolved], k)
    distinct = torch.unique(widths).tolist()
    if len(distinct) == 1:
        return groups + _solve_window(rest, distinct[0], rest_rows)
    for width in distinct:
        sel = widths == width
        groups += _solve_window(rest[sel], width, rest_rows[sel])
    return groups


Group = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (row ids, weights, key ids) of one solved group


def _trim(rows: torch.Tensor, weights: torch.Tensor, idx: torch.Tensor) -> Group:
    """Cut a group to its widest non-zero prefix (weights are non-increasing along the candidates)."""
    width = max(1, int((weights > 0).sum(-1).max()))
    return rows, weights[:, :width], idx[:, :width]


class SparseRows(NamedTuple):
    """Row-wise sparsemax weights as coordinates sorted by row: A[rows[i], cols[i]] = weights[i]; every
    other entry of A is zero. Each row's weights sum to 1."""

    rows: torch.Tensor
    cols: torch.Tensor
    weights: torch.Tensor


def _sparse_from_groups(groups: list[Group]) -> SparseRows:
    """Groups of the official solver as coordinates sorted by row, zero weights dropped (NaN kept)."""
    rows = torch.cat([r[:, None].expand_as(w).reshape(-1) for r, w, _ in groups])
    cols = torch.cat([i.reshape(-1) for _, _, i in groups])
    weights = torch.cat([w.reshape(-1) for _, w, _ in groups])
    keep = (~(weights <= 0)).nonzero().squeeze(1)
    rows, cols, weights = rows[keep], cols[keep], weights[keep]
    order = rows.argsort(stable=True)
    return SparseRows(rows[order], cols[order], weights[order])


def _row_tau(rows: torch.Tensor, z: torch.Tensor, n_rows: int) -> torch.Tensor:
    """τ = (Σ z − 1) / K over each row's listed entries (length n_rows), rounded as the official solver
    rounds c_K / K: the CPU cumsum accumulates in float64 and rounds once to z's dtype."""
    count = torch.bincount(rows, minlength=n_rows).clamp(min=1).to(z.dtype)
    total = torch.zeros(n_rows, dtype=torch.float64, device=z.device).index_add_(0, rows, z.to(torch.float64))
    return (total.to(z.dtype) - 1) / count


def _michelot_bound(z: torch.Tensor, tau: torch.Tensor, steps: int) -> torch.Tensor:
    """Michelot steps on R×M shifted scores from a lower bound τ (R×1) of their sparsemax threshold.

    Each step averages the entries above τ: a set that contains the support gives (Σ z − 1)/|C| <= τ*, so
    every step returns a larger, still valid lower bound (τ >= −1 throughout, so entries clamped to −2,
    e.g. -inf padding, never count).
    """
    z = z.clamp(min=-2.0)
    for _ in range(steps):
        inside = (z > tau).to(z.dtype)
        tau = ((z * inside).sum(-1, keepdim=True) - 1) / inside.sum(-1, keepdim=True)
    return tau


def _candidates(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keys that may be in each row's support, from R×P' scores (P' a multiple of KEY_ALIGN, no grad).

    Returns (rows, flat, z) sorted by row, where flat = row·P' + key and z = score − row max, the row max
    m (R×1) and the bound ``excl`` (R): every key left out has z <= excl, and excl <= τ unless rounding
    beat SLACK.
    """
    n_rows, width = scores.shape
    n_groups = width // GROUP
    group_max = scores.view(n_rows, GROUP, n_groups).amax(1)
    m = group_max.amax(-1, keepdim=True)
    tau = torch.full_like(m, -1.0)  # τ >= z_max − 1 = −1
    for size, steps in COARSE_GROUPS:
        coarse = group_max.view(n_rows, size // GROUP, width // size).amax(1)
        tau = _michelot_bound(coarse - m, tau, steps)
    slack = (SLACK * (1 + m.abs())).view(-1)
    excl = tau.view(-1) - slack
    gid = (group_max > m + excl[:, None]).view(-1).nonzero().squeeze(1)
    rows = torch.div(gid, n_groups, rounding_mode="floor")
    z = group_max.view(-1).index_select(0, gid) - m.view(-1).index_select(0, rows)
    # one Michelot step over the group maxima left (a superset of their own support)
    excl = torch.maximum(excl, _row_tau(rows, z, n_rows) - slack)
    keep = (z > excl.index_select(0, rows)).nonzero().squeeze(1)
    rows, gid = rows.index_select(0, keep), gid.index_select(0, keep)
    # every key of the groups left: group g of row r holds keys r·P' + g + j·P'/GROUP
    flat = (gid + rows * (width - n_groups))[:, None] + torch.arange(0, width, n_groups, device=gid.device)
    rows = rows[:, None].expand(-1, GROUP).reshape(-1)
    z = scores.view(-1).index_select(0, flat.view(-1)) - m.view(-1).index_select(0, rows)
    keep = (z > excl.index_select(0, rows)).nonzero().squeeze(1)
    return rows.index_select(0, keep), flat.view(-1).index_select(0, keep), z.index_select(0, keep), m, excl


def _fast_support(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact support of each row of R×P' scores (no grad): (rows, flat = row·P' + key) sorted by row, the
    row maxima (R) and the ids of the rows it cannot certify (to be solved by the official solver)."""
    n_rows = scores.shape[0]
    rows, flat, z, m, excl = _candidates(scores)
    # exact Michelot steps: drop entries <= τ of the current set until none is dropped. τ only grows, so
    # the final set is {z > τ}; only rows that changed in the last step are recomputed.
    tau = _row_tau(rows, z, n_rows)
    work_rows, work_z = rows, z
    while True:
        keep = work_z > tau.index_select(0, work_rows)
        dropped = (~keep).nonzero().squeeze(1)
        if dropped.numel() == 0:
            break
        changed = torch.zeros(n_rows, dtype=torch.bool, device=z.device)
        changed.index_fill_(0, work_rows.index_select(0, dropped), True)
        keep = (keep & changed.index_select(0, work_rows)).nonzero().squeeze(1)
        work_rows, work_z = work_rows.index_select(0, keep), work_z.index_select(0, keep)
        tau = torch.maximum(tau, _row_tau(work_rows, work_z, n_rows))
    keep = (z > tau.index_select(0, rows)).nonzero().squeeze(1)
    rows, flat = rows.index_select(0, keep), flat.index_select(0, keep)
    # certified: every key left out is <= excl <= τ (so outside the support), and the row has entries
    bad = ~(tau >= excl) | (torch.bincount(rows, minlength=n_rows) == 0)
    if bool(bad.any()):
        keep = (~bad.index_select(0, rows)).nonzero().squeeze(1)
        rows, flat = rows.index_select(0, keep), flat.index_select(0, keep)
    return rows, flat, m.view(-1), bad.nonzero().squeeze(1)


def _solve_rows(scores: torch.Tensor, n_keys: int, topk: int) -> SparseRows:
    """Exact row-wise sparsemax of R×P' scores whose columns >= n_keys are padding (-inf)."""
    n_rows, width = scores.shape
    if topk >= n_keys:  # the official full-sort path
        return _sparse_from_groups(_solve_window(scores[:, :n_keys], topk, torch.arange(n_rows, device=scores.device)))
    with torch.no_grad():
        rows, flat, m, unsolved = _fast_support(scores.detach())
    # weights from the support, differentiable in the scores: z = s − max, τ = (Σ z − 1)/K, w = z − τ
    z = scores.reshape(-1).index_select(0, flat) - m.index_select(0, rows)
    sparse = SparseRows(rows, flat - rows * width, z - _row_tau(rows, z, n_rows).index_select(0, rows))
    if unsolved.numel() == 0:
        return sparse
    rest = _sparse_from_groups(_solve_window(scores[unsolved, :n_keys], topk, unsolved))
    rows, cols, weights = (torch.cat(pair) for pair in zip(sparse, rest))
    order = rows.argsort(stable=True)
    return SparseRows(rows[order], cols[order], weights[order])


def _padded_width(n_keys: int) -> int:
    """Columns of a padded score block: n_keys rounded up to a multiple of KEY_ALIGN."""
    return -(-n_keys // KEY_ALIGN) * KEY_ALIGN


def sparsemax_rows(scores: torch.Tensor, topk: int) -> SparseRows:
    """Exact row-wise sparsemax of R×P ``scores`` in sparse form (see :class:`SparseRows`).

    ``topk`` >= P runs the official full-sort solver; otherwise the fast path, with the official top-k
    solver for rows it cannot certify. The result does not depend on ``topk``.
    """
    n_keys = scores.shape[-1]
    width = _padded_width(n_keys)
    if width > n_keys and topk < n_keys:
        scores = F.pad(scores, (0, width - n_keys), value=float("-inf"))
    return _solve_rows(scores, n_keys, topk)


def _aggregate(sparse: SparseRows, n_rows: int, value: torch.Tensor, rows_per_image: int) -> torch.Tensor:
    """out[r] = Σ_i weights[i] · value[r // rows_per_image, cols[i]] over row r's entries: n_rows×C."""
    n, n_keys, channels = value.shape
    counts = torch.bincount(sparse.rows, minlength=n_rows)
    keys = sparse.cols
    if n > 1:
        keys = keys + torch.div(sparse.rows, rows_per_image, rounding_mode="floor") * n_keys
    return F.embedding_bag(keys, value.reshape(n * n_keys, channels), counts.cumsum(0) - counts,
                           mode="sum", per_sample_weights=sparse.weights)


def auto_chunk_size(batch: int, positions: int) -> int:
    """Query rows per chunk: :data:`AUTO_CHUNK_ROWS`, fewer if the scores would exceed
    :data:`AUTO_CHUNK_ELEMENTS` numbers."""
    budget = AUTO_CHUNK_ELEMENTS // max(1, batch * _padded_width(positions))
    return max(1, min(positions, AUTO_CHUNK_ROWS, budget))


def _attend_chunk(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, start: int, step: int, topk: int,
                  buffer: torch.Tensor | None) -> torch.Tensor:
    """Attention of query rows [start, start + step): scores against every (padded) key, exact sparsemax,
    aggregation. ``buffer`` (if given) holds the score block, so no fresh large allocation is made."""
    n, positions, _ = query.shape
    width = key.shape[-1]
    q = query[:, start:start + step]
    m = q.shape[1]
    if buffer is None:
        scores = torch.bmm(q, key)
    else:
        scores = torch.bmm(q, key, out=buffer[: n * m * width].view(n, m, width))
    scores = scores.view(n * m, width)
    if width > positions:
        scores[:, positions:] = float("-inf")
    sparse = _solve_rows(scores, positions, topk)
    return _aggregate(sparse, n * m, value, m).view(n, m, -1)


def _chunks_in_parallel(starts: list[int], workers: int, run: Callable[[int, torch.Tensor], torch.Tensor],
                        buffer_size: int, like: torch.Tensor) -> list[torch.Tensor]:
    """``run(start, buffer)`` for every chunk on ``workers`` threads with one intra-op thread each.

    The solver is many small ops; with torch's OpenMP threads each one is a parallel region whose threads
    wait for each other, which on a shared or busy machine spends more time waiting than computing.
    Independent chunks on separate threads (each op runs single-threaded; torch releases the GIL inside
    ops) keep every core busy without those barriers. Results are bit-identical: every op of a chunk gives
    the same bits with one thread as with several. The caller's thread count is restored afterwards.
    """
    saved = torch.get_num_threads()
    local = threading.local()

    def task(start: int) -> torch.Tensor:
        if getattr(local, "buffer", None) is None:
            torch.set_num_threads(1)
            local.buffer = like.new_empty(buffer_size)
        return run(start, local.buffer)

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="attnsr-sparsemax") as pool:
            return list(pool.map(task, starts))
    finally:
        torch.set_num_threads(saved)


def sparsemax_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *, topk: int, chunk_size: int | None = None,
    workers: int | None = None,
) -> torch.Tensor:
    """Global attention normalised by exact row-wise sparsemax, computed in chunks of query rows.

    query N×P×Cq, key N×Cq×P, value N×P×C -> N×P×C, where out[n, i] = Σ_j A[n, i, j]·value[n, j] and
    A[n, i] = sparsemax_j(query[n, i]·key[n, :, j]). Never holds more than ``chunk_size`` rows of scores
    per worker (automatic when ``None``); each chunk attends to all P keys, so chunking does not change the
    result. Without autograd on CPU, chunks run on ``workers`` threads (``None``: torch's thread count),
    each op single-threaded (see :func:`_chunks_in_parallel`), and score blocks reuse one buffer per worker
    (fresh large allocations cost page faults). Outputs do not depend on ``chunk_size`` or ``workers``.
    """
    n, positions, _ = query.shape
    if topk < 1:
        raise ConfigError(f"hspan: topk must be >= 1, got {topk}")
    step = chunk_size if chunk_size is not None else auto_chunk_size(n, positions)
    if step < 1:
        raise ConfigError(f"hspan: chunk_size must be >= 1, got {step}")
    if workers is not None and workers < 1:
        raise ConfigError(f"hspan: workers must be >= 1, got {workers}")
    width = _padded_width(positions)
    if width > positions:  # zero key columns; their scores are overwritten with -inf below
        key = F.pad(key, (0, width - positions))
    value = value.contiguous()
    tracked = torch.is_grad_enabled() and (query.requires_grad or key.requires_grad)
    starts = list(range(0, positions, step))
    buffer_size = n * min(step, positions) * width
    threads = min(len(starts), workers if workers is not None else torch.get_num_threads())
    if tracked:
        chunks = [_attend_chunk(query, key, value, start, step, topk, None) for start in starts]
    elif threads > 1 and query.device.type == "cpu":
        chunks = _chunks_in_parallel(
            starts, threads, lambda start, buf: _attend_chunk(query, key, value, start, step, topk, buf),
            buffer_size, query)
    else:
        buffer = query.new_empty(buffer_size)
        chunks = [_attend_chunk(query, key, value, start, step, topk, buffer) for start in starts]
    return torch.cat(chunks, dim=1) if len(chunks) > 1 else chunks[0]
