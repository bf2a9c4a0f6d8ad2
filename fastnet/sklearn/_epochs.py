"""scikit-learn's per-iteration bookkeeping as a fastnet callback, called at each epoch end of
the C++ fit loop: the loss curve (with sklearn's L2 term), the validation scores and best
weights of ``early_stopping``, the ``tol`` / ``n_iter_no_change`` stopping rule and the
learning-rate rules ``invscaling`` and ``adaptive`` of the SGD solver. Source:
sklearn/neural_network/_multilayer_perceptron.py (``_fit_stochastic``,
``_update_no_improvement_count``) and _stochastic_optimizers.py (``iteration_ends``,
``trigger_stopping``), scikit-learn 1.9."""

from __future__ import annotations

from ..callbacks import Callback


class SklearnEpochs(Callback):
    """Updates the estimator's fitted attributes after every epoch and stops the fit the way
    scikit-learn's stochastic solvers do.

    Parameters
    ----------
    est : the estimator being fit (its ``loss_curve_``, ``n_iter_``, ``t_`` ... are updated)
    params : dict
        The checked constructor parameters (fastnet/sklearn/_params.py).
    n_train : int
        Training rows per epoch (``t_`` counts them).
    validation : tuple (X_val, y_val) or None
        The held-out split of ``early_stopping``, y in the user's form (labels or values).
    lr_scale : float
        The factor between fastnet's and scikit-learn's learning rate for this loss
        (``_base.py``, ``_optimizer``).
    """

    def __init__(self, est, params, n_train, validation, lr_scale):
        super().__init__()
        self.est, self.p, self.n_train = est, params, n_train
        self.validation, self.lr_scale = validation, lr_scale
        self.stopped = False
        self._sumsq_begin = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._sumsq_begin = self.est._coef_sumsq()

    def _l2_term(self) -> float:
        """sklearn adds alpha/2·‖W‖²/batch to every batch's loss, with W before that batch's
        step, and averages the batches weighted by their rows: Σ_b alpha/2·‖W_b‖² / n. The
        per-step weights are not kept; ‖W_b‖² is interpolated linearly between the epoch's
        first and last weights (exact for one batch per epoch)."""
        steps = max(int(self.params.get("steps", 1)), 1)
        begin, end = self._sumsq_begin, self.est._coef_sumsq()
        total = steps * begin + (end - begin) * (steps - 1) / 2.0
        return 0.5 * self.p["alpha"] * total / self.n_train

    def on_epoch_end(self, epoch, logs=None):
        est, p = self.est, self.p
        loss = float(logs["loss"]) * est._loss_scale + self._l2_term()
        est.n_iter_ += 1
        est.loss_ = loss
        est.t_ += self.n_train
        est.loss_curve_.append(loss)
        if p["verbose"]:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        self._update_no_improvement_count()
        optimizer = self.context.optimizer
        if p["solver"] == "sgd" and p["learning_rate"] == "invscaling":
            optimizer.lr = self.lr_scale * p["learning_rate_init"] / (est.t_ + 1) ** p["power_t"]
        if est._no_improvement_count > p["n_iter_no_change"]:
            what = "Validation score" if p["early_stopping"] else "Training loss"
            msg = (
                f"{what} did not improve more than tol={p['tol']:f} for "
                f"{p['n_iter_no_change']} consecutive epochs."
            )
            adaptive = p["solver"] == "sgd" and p["learning_rate"] == "adaptive"
            if adaptive and optimizer.lr / self.lr_scale > 1e-6:
                optimizer.lr = optimizer.lr / 5.0
                est._no_improvement_count = 0
                if p["verbose"]:
                    print(f"{msg} Setting learning rate to {optimizer.lr / self.lr_scale:f}")
            else:
                if p["verbose"]:
                    small = " Learning rate too small." if adaptive else ""
                    print(f"{msg}{small} Stopping.")
                self.stopped = True
                self.context.stop_training = True

    def _update_no_improvement_count(self) -> None:
        est, tol = self.est, self.p["tol"]
        if self.validation is not None:
            score = est._score_fitted(*self.validation)
            est.validation_scores_.append(score)
            if self.p["verbose"]:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_weights = est._model.get_weights()
        else:
            last = est.loss_curve_[-1]
            if last > est.best_loss_ - tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if last < est.best_loss_:
                est.best_loss_ = last
