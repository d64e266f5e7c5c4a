"""Ctrl-C and SIGTERM as an Interrupted exception, raised where it is safe: at once in initlab's own code, held while
TensorFlow works (raised inside its calls, an exception is swallowed or printed as a stray traceback) until the
next check(), at most one recorded epoch later, or until the held block ends."""

import contextlib
import signal


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: the same clean-up as Ctrl-C runs on the way out."""


received: list[signal.Signals] = []  # every signal that arrived while raised() was in force
_held = 0  # how deep in held() blocks the main thread is
_pending = False  # a signal arrived inside held(): raise at the next check()


@contextlib.contextmanager
def raised():
    """Install the handlers (main thread only) for the duration; `received` tells afterwards what came."""
    received.clear()
    previous = {number: signal.signal(number, _on_signal) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _on_signal(number, frame):
    global _pending
    received.append(signal.Signals(number))
    if _held:
        _pending = True
    else:
        raise Interrupted()


@contextlib.contextmanager
def held():
    """While TensorFlow trains: a signal is kept, and raised at the next check() or when the block ends."""
    global _held
    _held += 1
    try:
        yield
    finally:
        _held -= 1
    raise_if_received()


def raise_if_received() -> None:
    """A safe point: raise the signal that arrived while held, once."""
    global _pending
    if _pending:
        _pending = False
        raise Interrupted()
