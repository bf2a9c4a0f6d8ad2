"""scikit-learn estimators trained by fastnet: drop-in replacements for
:class:`sklearn.neural_network.MLPClassifier` and :class:`sklearn.neural_network.MLPRegressor`.

They take scikit-learn's constructor parameters (same names, defaults and meanings; the
L-BFGS solver is not available yet) plus fastnet's own (``batch_norm``, ``dropout``,
``clip_norm``, ``schedule``, ``n_threads``), expose the fitted attributes scikit-learn users
read (``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_``, ...) and work in
``Pipeline``, ``GridSearchCV``, ``cross_val_score``, ``clone`` and pickle. Each fit runs its
epochs in fastnet's C++ loop; Python is re-entered once per epoch for scikit-learn's stopping
rules.

scikit-learn is an optional dependency: ``pip install fastnet[sklearn]``. ``import fastnet``
does not import it; ``import fastnet.sklearn`` does.

Examples
--------
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from fastnet.sklearn import MLPClassifier
>>> clf = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), random_state=0))
"""

try:
    import sklearn  # noqa: F401
except ImportError as exc:  # the optional extra is missing: say how to get it
    raise ImportError(
        "fastnet.sklearn needs scikit-learn (>= 1.6): pip install fastnet[sklearn]"
    ) from exc

from .classifier import MLPClassifier
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
