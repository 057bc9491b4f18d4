"""Key/value cache layers that append in place, for tunebench's greedy decoding loop.

transformers' `DynamicLayer` appends each step's keys and values with `torch.cat`, copying the
whole cache every step: for a batch of 24 rows that copy was a third of the CPU time of a
mixed-adapter batch (torch profile, Intel Xeon, 2 threads; tests/benchmarks/README.md). These
layers keep the same tokens in a buffer with room to spare, write each step's tokens into it and
hand the attention the same tokens, in the same order and the same number, as a view: the
attention computes the same thing bit for bit (the decoding tests compare with `generate`).

`buffer_cache(cache, spare)` swaps them in for the plain and sliding-window `DynamicLayer`s of a
`DynamicCache` after its prompt pass; a cache with any other kind of layer is left as it is.
"""

from __future__ import annotations

from typing import Any

from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer


def with_room(filled: Any, room: int) -> Any:
    """A buffer shaped like `filled` (batch, heads, tokens, dim) with `room` more token slots, the
    filled part copied in."""
    shape = list(filled.shape)
    n = shape[-2]
    shape[-2] = n + room
    buf = filled.new_empty(shape)
    buf[:, :, :n] = filled
    return buf


class _Buffered:
    """What both buffered layers share: built from a filled layer, a buffer with `spare` token slots
    to spare, and the batch operations transformers' layers offer, applied to the buffer. `_show`
    sets `keys`/`values` to the views the layer kind exposes."""

    spare: int
    filled: int
    keys: Any
    values: Any
    _kbuf: Any
    _vbuf: Any

    @classmethod
    def from_layer(cls, layer: Any, spare: int) -> Any:
        new = cls.__new__(cls)
        new.__dict__.update(layer.__dict__)
        new.spare = max(1, spare)
        new._reseed()
        return new

    def _show(self) -> None:
        raise NotImplementedError

    def _reseed(self) -> None:
        assert self.keys is not None and self.values is not None
        self.filled = self.keys.shape[-2]
        self._kbuf = with_room(self.keys, self.spare)
        self._vbuf = with_room(self.values, self.spare)
        self._show()

    def batch_select_indices(self, indices: Any) -> None:
        self._kbuf = self._kbuf[indices, ...]
        self._vbuf = self._vbuf[indices, ...]
        self._show()

    def crop(self, tokens_to_remove: int) -> None:
        super().crop(tokens_to_remove)  # type: ignore[misc]
        self._reseed()

    def batch_repeat_interleave(self, repeats: int) -> None:
        super().batch_repeat_interleave(repeats)  # type: ignore[misc]
        self._reseed()


class BufferedLayer(_Buffered, DynamicLayer):
    """A `DynamicLayer` whose tokens live in a buffer; `keys` and `values` are views of its filled
    part, so every reader of a DynamicLayer sees what it expects."""

    def _show(self) -> None:
        self.keys = self._kbuf[:, :, : self.filled]
        self.values = self._vbuf[:, :, : self.filled]

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        n = key_states.shape[-2]
        if self.filled + n > self._kbuf.shape[-2]:
            self.spare = max(self.spare, n)
            self._kbuf = with_room(self._kbuf[:, :, : self.filled], max(self.spare, self.filled))
            self._vbuf = with_room(self._vbuf[:, :, : self.filled], max(self.spare, self.filled))
        self._kbuf[:, :, self.filled : self.filled + n] = key_states
        self._vbuf[:, :, self.filled : self.filled + n] = value_states
        self.filled += n
        self._show()
        return self.keys, self.values


class BufferedSlidingLayer(_Buffered, DynamicSlidingWindowLayer):
    """A `DynamicSlidingWindowLayer` whose tokens live in a buffer. Like it, an update returns the
    last `sliding_window - 1` cached tokens followed by the new ones, and `keys`/`values` (views)
    hold the last `sliding_window - 1` tokens; older tokens are dropped when the buffer is full."""

    def _start(self) -> int:
        return max(0, self.filled - (self.sliding_window - 1))

    def _show(self) -> None:
        start = self._start()
        self.keys = self._kbuf[:, :, start : self.filled]
        self.values = self._vbuf[:, :, start : self.filled]

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        n = key_states.shape[-2]
        self.cumulative_length += n
        if self.filled + n > self._kbuf.shape[-2]:  # keep the window's tokens only, with room again
            start = self._start()
            self.spare = max(self.spare, n)
            self._kbuf = with_room(self._kbuf[:, :, start : self.filled], self.spare + self.sliding_window)
            self._vbuf = with_room(self._vbuf[:, :, start : self.filled], self.spare + self.sliding_window)
            self.filled -= start
        start = self._start()
        self._kbuf[:, :, self.filled : self.filled + n] = key_states
        self._vbuf[:, :, self.filled : self.filled + n] = value_states
        self.filled += n
        full = self._kbuf[:, :, start : self.filled], self._vbuf[:, :, start : self.filled]
        self._show()
        return full


def plain_filled_layers(cache: Any) -> bool:
    """Whether every layer of `cache` is a filled plain or sliding-window `DynamicLayer` that keeps
    no past: the layers a buffered layer can be built from (other kinds hold state it does not copy)."""
    layers = getattr(cache, "layers", None)
    if not layers:
        return False
    for layer in layers:
        kind = type(layer)
        if kind not in (DynamicLayer, DynamicSlidingWindowLayer) or not layer.is_initialized:
            return False
        if kind is DynamicSlidingWindowLayer and layer.record_past:
            return False
        if layer.keys is None or layer.keys.dim() != 4:
            return False
    return True


def buffer_cache(cache: Any, spare: int) -> bool:
    """Swap every layer of `cache` for its buffered kind, with room for `spare` more tokens (it
    grows beyond that if needed); True when swapped. Only when `plain_filled_layers(cache)`."""
    if not plain_filled_layers(cache):
        return False
    layers = cache.layers
    cache.layers = [
        BufferedSlidingLayer.from_layer(layer, spare)
        if type(layer) is DynamicSlidingWindowLayer
        else BufferedLayer.from_layer(layer, spare)
        for layer in layers
    ]
    return True
