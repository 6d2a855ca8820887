"""Requests-per-minute and tokens-per-minute token buckets, shared by every call of one client.

A bucket lives on the `LLMClient`, not on one `chat_many` call, so a limit holds across calls (a
second call does not start with a fresh minute's burst). It is guarded by a thread lock, not an
asyncio one, because the sync API runs each call in a new event loop (and notebooks in a thread):
`reserve` takes the units at once, letting the level go below zero, and says how long the caller
must wait; callers therefore queue in arrival order without holding any lock while they sleep.
"""

from __future__ import annotations

import asyncio
import threading
import time


class TokenBucket:
    """`rate_per_min` units a minute, holding at most `burst_s` seconds' worth (default: one minute)."""

    def __init__(self, rate_per_min: float, burst_s: float = 60.0):
        if rate_per_min <= 0 or burst_s <= 0:
            raise ValueError(f"rate and burst must be > 0, got {rate_per_min}/min, {burst_s} s")
        self.rate = float(rate_per_min) / 60.0
        self.capacity = self.rate * float(burst_s)
        self.level = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def reserve(self, amount: float) -> float:
        """Take `amount` units now; the seconds to wait before using them (0 if available)."""
        amount = min(float(amount), self.capacity)  # one huge request must still be able to go
        with self.lock:
            self._refill(time.monotonic())
            self.level -= amount
            return 0.0 if self.level >= 0 else -self.level / self.rate

    async def acquire(self, amount: float) -> None:
        wait = self.reserve(amount)
        if wait <= 0:
            return
        try:
            await asyncio.sleep(wait)
        except asyncio.CancelledError:
            self.refund(amount)  # a cancelled caller gives back what it never used
            raise

    def refund(self, amount: float) -> None:
        with self.lock:
            self._refill(time.monotonic())
            self.level = min(self.capacity, self.level + max(0.0, float(amount)))
