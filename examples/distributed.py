"""Data-parallel training over MPI: the same script on every rank, one all-reduce per step.

    pip install "fastnet[mpi]"                     # mpi4py + Open MPI (mpirun) from PyPI
    mpirun -n 2 python examples/distributed.py     # as root add --allow-run-as-root
    python examples/distributed.py                 # one process: the same training, alone

Every rank loads the same data set; ``fit(..., distributed=True)`` gives each rank every N-th
row of each epoch's shuffled order (shard="split"), so one step trains on N x batch_size rows
and every rank ends with the same weights. Rank 0 prints and writes the model.
"""

import os
import tempfile

import fastnet as fn
from fastnet import distributed as dist


def main():
    X_train, y_train, X_test, y_test = fn.datasets.load_digits()
    # One thread per rank when several ranks share a machine (else each takes every core).
    fn.set_num_threads(max(1, (os.cpu_count() or 1) // dist.world_size()))
    model = fn.Sequential(
        fn.Dense(64, 128), fn.BatchNorm(128), fn.ReLU(), fn.Dense(128, 10), seed=0
    )
    opt = fn.optim.Adam(model.parameters(), lr=1e-3)
    history = model.fit(
        X_train,
        y_train,
        loss="sparse_categorical_crossentropy",
        optimizer=opt,
        epochs=10,
        batch_size=32,  # per rank: a step sees world_size() x 32 rows
        seed=0,
        validation_data=(X_test, y_test),
        verbose=2,  # rank 0 prints, the others stay silent
        distributed=dist.world_size() > 1,
    )
    path = os.path.join(tempfile.gettempdir(), "fastnet-distributed.safetensors")
    fn.save(model, path)  # rank 0 writes; a no-op on the other ranks
    if dist.is_main():
        accuracy = history.history["val_accuracy"][-1]
        print(f"{dist.world_size()} rank(s): test accuracy {accuracy:.3f}; saved {path}")


if __name__ == "__main__":
    main()
