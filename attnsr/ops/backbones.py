"""Channel plans of the ImageNet feature stacks LPIPS uses (AlexNet and VGG16 ``features``, cut where LPIPS
taps them): the network in :mod:`attnsr.metrics.lpips` is built from them and the weight converter in
:mod:`attnsr.assets` checks the shapes of the official files against them.
"""

from __future__ import annotations

from dataclasses import dataclass

Conv = tuple[int, int, int, int, int]  # (in, out, kernel, stride, padding), followed by ReLU


@dataclass(frozen=True)
class Backbone:
    """A feature stack: each stage is an optional 2-D max-pool (kernel, stride) then convs+ReLU, and the
    last ReLU of every stage is one tapped layer."""

    stages: tuple[tuple[tuple[int, int] | None, tuple[Conv, ...]], ...]
    min_size: int  # smallest H and W giving a non-empty last feature map

    @property
    def convs(self) -> list[tuple[int, int, int]]:
        """(in, out, kernel) of every conv in order -- the shapes the weight converter checks."""
        return [(c[0], c[1], c[2]) for _, convs in self.stages for c in convs]

    @property
    def tap_channels(self) -> list[int]:
        return [convs[-1][1] for _, convs in self.stages]


def _vgg_stage(pool: bool, cin: int, cout: int, n: int) -> tuple[tuple[int, int] | None, tuple[Conv, ...]]:
    return ((2, 2) if pool else None, tuple((cin if i == 0 else cout, cout, 3, 1, 1) for i in range(n)))


BACKBONES: dict[str, Backbone] = {
    # torchvision AlexNet ``features`` as the LPIPS slices cut it (relu1 | pool conv relu2 | pool conv relu3 | ...)
    "alex": Backbone(
        stages=(
            (None, ((3, 64, 11, 4, 2),)),
            ((3, 2), ((64, 192, 5, 1, 2),)),
            ((3, 2), ((192, 384, 3, 1, 1),)),
            (None, ((384, 256, 3, 1, 1),)),
            (None, ((256, 256, 3, 1, 1),)),
        ),
        min_size=31,
    ),
    # VGG16 ``features`` up to relu5_3, cut at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    "vgg": Backbone(
        stages=(
            _vgg_stage(False, 3, 64, 2),
            _vgg_stage(True, 64, 128, 2),
            _vgg_stage(True, 128, 256, 3),
            _vgg_stage(True, 256, 512, 3),
            _vgg_stage(True, 512, 512, 3),
        ),
        min_size=16,
    ),
}
