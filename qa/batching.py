"""Micro-batching: questions that arrive while the model is busy are encoded together in its next pass.

A lone question never waits: when the model is idle, the caller runs its own pass at once (a batch
of one), so batching adds nothing to it but a lock. Questions that arrive while a pass runs queue up;
when it ends, the first of them runs one pass for all that queued (up to `limit`), and so on. Under
load the model thus runs fewer, larger passes (8 questions in one pass cost ~6 ms each instead of
~8 ms alone, OpenVINO bf16 on 2 cores), and no thread is kept for it: the caller whose question
heads the queue runs the pass.

Example: A asks while the model is idle -> A's pass [A] starts at once. B and C ask during it ->
when [A] ends, B runs [B, C]; C wakes with its result.

What a question gets does not depend on its company: each row of a batch is encoded as it would be
alone (inputs padded, padding masked). With OpenVINO a batched row is bitwise the row encoded alone
(checked on questions of 5-18 tokens); onnxruntime may differ in the last bit of a float (3e-8),
as its kernels block a batch differently.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

BATCH_LIMIT = 16  # questions in one pass at most (qa/embedding.py's BATCH_SIZE)


@dataclass
class _Request(Generic[In, Out]):
    item: In
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to run the next pass, not with a result
    result: Out | None = None
    error: BaseException | None = None


class Batcher(Generic[In, Out]):
    def __init__(self, run: Callable[[list[In]], list[Out]], limit: int = BATCH_LIMIT):
        """`run` maps a list of items to their results, in order (one model pass)."""
        self._run = run
        self.limit = limit
        self._lock = threading.Lock()
        self._queue: list[_Request[In, Out]] = []
        self._busy = False
        self.passes = 0  # passes run, and items encoded in them: what a test or a benchmark reads
        self.items = 0

    def __call__(self, item: In) -> Out:
        request: _Request[In, Out] = _Request(item)
        with self._lock:
            self._queue.append(request)
            lead = not self._busy
            self._busy = True
        if not lead:
            request.done.wait()
            if not request.lead:
                return self._outcome(request)
        self._pass()
        return self._outcome(request)

    def _pass(self) -> None:
        """Run one pass for the head of the queue (which holds this caller's request), then hand the
        model to the next queued caller, or mark it idle."""
        with self._lock:
            batch, self._queue = self._queue[: self.limit], self._queue[self.limit :]
        try:
            results = self._run([request.item for request in batch])
            for request, result in zip(batch, results, strict=True):
                request.result = result
        except BaseException as error:  # noqa: BLE001 - each caller of the batch raises it
            for request in batch:
                request.error = error
        with self._lock:
            self.passes += 1
            self.items += len(batch)
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].done.set()  # the next caller runs the next pass
            else:
                self._busy = False
        for request in batch:
            request.done.set()

    @staticmethod
    def _outcome(request: _Request[In, Out]) -> Out:
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result
