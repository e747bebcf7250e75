"""The lab: tasks (data, a model, a loss), and the machinery that trains and compares schedules on them.

Importing this package needs numpy and SQLAlchemy (the run store's tables): torch, scikit-learn and mnist1d are
imported when a task's data or model is built, Optuna when a search starts.
"""

# `train`, `compare`, `cooldowns`, `experiment` and `tune` are the functions (they shadow their modules' names;
# `from lrlab.lab.train import execute` still works); `find_lr` is lab/find.py's. None of these imports torch or pandas.
# (__all__ is pinned by tests/lab/test_builtin_tasks.py.)
from .compare import Comparison, compare  # noqa: F401
from .cooldowns import Cooldowns, cooldowns  # noqa: F401
from .experiment import Experiment, experiment  # noqa: F401  (the decorator shadows its module's name)
from .find import find_lr  # noqa: F401
from .options import TASK_DEFAULT, RunOptions  # noqa: F401
from .run import Run  # noqa: F401
from .store import Store  # noqa: F401
from .task import Data, Split, Task, get_task, register_task, task_names
from .train import train  # noqa: F401
from .tune import tune  # noqa: F401

__all__ = ["Data", "Split", "Task", "get_task", "register_task", "task_names"]
