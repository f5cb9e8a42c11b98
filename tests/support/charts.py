"""Chart tests. Builders of runs with 2-D coordinates, and PIL-free image statistics."""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import image as mpimg

from bot.domain.models import NOISE_CLUSTER_ID, Cluster, ClusteringRun
from tests.support.factories import make_item, make_metrics, make_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def map_run(
    seed: int = 1,
    *,
    clusters: int = 6,
    items: int = 600,
    outliers: float = 0.08,
    spread: float = 0.8,
    **run_overrides: Any,
) -> ClusteringRun:
    """A run whose clusters sit around random 2-D centroids, as PostHog's UMAP map has them."""
    rng = random.Random(seed)
    n_noise = round(items * outliers)
    per = max(1, (items - n_noise) // max(clusters, 1))
    built = []
    for cid in range(clusters):
        cx, cy = rng.uniform(-6, 6), rng.uniform(-6, 6)
        members = tuple(
            make_item(
                f"c{cid}-{i}",
                rank=i,
                x=cx + rng.gauss(0, spread),
                y=cy + rng.gauss(0, spread),
            )
            for i in range(per)
        )
        built.append(
            Cluster(
                cluster_id=cid,
                title=f"Topic number {cid} with a rather long title",
                items=members,
                size=per,
                centroid_x=cx,
                centroid_y=cy,
                metrics=make_metrics(),
            )
        )
    if n_noise:
        noise = tuple(
            make_item(f"n-{i}", rank=i, x=rng.uniform(-9, 9), y=rng.uniform(-9, 9))
            for i in range(n_noise)
        )
        built.append(
            Cluster(cluster_id=NOISE_CLUSTER_ID, title="Outliers", items=noise, size=n_noise)
        )
    return make_run(*built, **run_overrides)


@dataclass(frozen=True)
class Stats:
    shape: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def close_to(self, other: Stats, tol: float = 1e-4) -> bool:
        return self.shape == other.shape and all(
            math.isclose(a, b, abs_tol=tol)
            for a, b in zip(self.mean + self.std, other.mean + other.std, strict=True)
        )


def decode(png: bytes) -> np.ndarray[Any, Any]:
    assert png.startswith(PNG_SIGNATURE)
    return np.asarray(mpimg.imread(io.BytesIO(png), format="png"))


def stats(png: bytes) -> Stats:
    pixels = decode(png)
    channels = pixels.reshape(-1, pixels.shape[-1])
    return Stats(
        pixels.shape,
        tuple(float(v) for v in channels.mean(axis=0)),
        tuple(float(v) for v in channels.std(axis=0)),
    )
