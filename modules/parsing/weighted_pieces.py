"""Prompt pieces with attention weights, where scaling every piece from some index on is cheap.

A1111 multiplies each piece after an opening bracket when the bracket closes (and for every
unclosed bracket at the end), which costs pieces x brackets: a pasted `[a[a[a...` of 1 MB
never finished. Runs of neighbouring pieces with equal weight are kept as one block here, so a
suffix scale multiplies one number per block. Every piece still gets exactly the same
products, in the same order, as when multiplied one by one.
"""

from __future__ import annotations

from bisect import bisect_right


class WeightedPieces:
    """Texts in order, each with a weight; blocks of equal weights share one number."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._firsts: list[int] = []  # index of each block's first piece
        self._weights: list[float] = []

    def __len__(self) -> int:
        return len(self.texts)

    def append(self, text: str, weight: float = 1.0) -> None:
        if not self._weights or self._weights[-1] != weight:
            self._firsts.append(len(self.texts))
            self._weights.append(weight)
        self.texts.append(text)

    def scale_from(self, start: int, factor: float) -> None:
        """Multiply the weight of every piece at `start` or after by `factor`."""
        if start >= len(self.texts):
            return
        k = bisect_right(self._firsts, start) - 1
        if self._firsts[k] < start:
            self._firsts.insert(k + 1, start)
            self._weights.insert(k + 1, self._weights[k])
            k += 1
        weights = self._weights
        for j in range(k, len(weights)):
            weights[j] *= factor
        self._merge_from(max(k - 1, 0))

    def _merge_from(self, k: int) -> None:
        """Join equal neighbours from block k on (only the scaled suffix can have changed)."""
        firsts, weights = [self._firsts[k]], [self._weights[k]]
        for first, weight in zip(self._firsts[k + 1:], self._weights[k + 1:], strict=True):
            if weight != weights[-1]:
                firsts.append(first)
                weights.append(weight)
        self._firsts[k:] = firsts
        self._weights[k:] = weights

    def weights(self) -> list[float]:
        if not self.texts:
            return []
        ends = self._firsts[1:] + [len(self.texts)]
        out: list[float] = []
        for first, end, weight in zip(self._firsts, ends, self._weights, strict=True):
            out.extend([weight] * (end - first))
        return out

    def items(self) -> list[list]:
        return [[text, weight] for text, weight in zip(self.texts, self.weights(), strict=True)]
