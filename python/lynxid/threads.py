"""BLAS threads for small matrix products.

Local matching multiplies small descriptor matrices (a few hundred rows) millions of times;
BLAS splitting each such product over threads costs more in synchronisation than it gains.
Keypoint and dense matching both limit BLAS to one thread around their products.
"""
from __future__ import annotations

__all__ = ["OneBlasThread", "one_blas_thread"]


class OneBlasThread:
    """A 512 x 128 x 512 product is too small to share: with two BLAS threads, each waiting
    at barriers for the other, matching ran many times slower on a 2-core machine with one busy
    core (benchmarks/README.md).
    Re-entrant across threads (matching pairs in a pool): the first to enter limits BLAS, the
    last to leave restores it, so concurrent use never leaves it stuck at one thread."""

    def __init__(self):
        import threading
        self._lock = threading.Lock()
        self._users = 0
        self._restore = None
        self._ctl = None

    def __enter__(self):
        with self._lock:
            if self._users == 0:
                if self._ctl is None:
                    try:
                        from threadpoolctl import ThreadpoolController
                        self._ctl = ThreadpoolController()
                    except Exception:   # no threadpoolctl (it comes with scikit-learn): leave BLAS alone
                        self._ctl = False
                if self._ctl:
                    self._restore = self._ctl.limit(limits=1, user_api="blas")
            self._users += 1

    def __exit__(self, *exc):
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._restore is not None:
                self._restore.restore_original_limits()
                self._restore = None


_ONE_BLAS = OneBlasThread()


def one_blas_thread() -> OneBlasThread:
    """The process-wide limiter (one, so that nested and concurrent users share its count)."""
    return _ONE_BLAS
