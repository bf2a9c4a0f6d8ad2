"""``mpirun -n 2 python raises.py``: rank 1 passes rows of the wrong width and does not catch
the error; both ranks must exit with an error (rank 0: fastnet.distributed.PeerError) instead
of hanging in a collective."""

import numpy as np

import fastnet as fn
from fastnet import distributed as dist

model = fn.Sequential(fn.Dense(4, 8, activation="relu"), fn.Dense(8, 2), seed=0)
opt = fn.optim.SGD(model.parameters(), lr=0.1)
rng = np.random.default_rng(0)
X = rng.standard_normal((32, 3 if dist.rank() == 1 else 4)).astype(np.float32)
y = rng.integers(0, 2, 32)
model.fit(X, y, loss="sparse_categorical_crossentropy", optimizer=opt, epochs=2,
          distributed=True, verbose=0)  # fmt: skip
print("finished without error", flush=True)
