"""Callbacks for fit: the base class and the list that dispatches to them.

Hooks follow Keras: on_train_begin/end, on_epoch_begin/end(epoch, logs), and on_batch_end
(step, logs) every ``batch_interval`` steps (None: never; the C++ loop then runs whole epochs
without returning to Python).
"""
from __future__ import annotations


class Callback:
    batch_interval = None  # steps between on_batch_end calls; None: no batch-level calls

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_end(self, step, logs=None):
        pass


class CallbackList:
    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks or ())
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be fastnet Callback objects, got {type(cb).__name__}")
            cb.set_model(model)
            cb.set_params(params)

    def batch_interval(self):
        """The smallest interval any callback asks for, or None."""
        steps = [cb.batch_interval for cb in self.callbacks if cb.batch_interval]
        return min(steps) if steps else None

    def call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)
