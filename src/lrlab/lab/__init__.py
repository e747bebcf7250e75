"""The lab: which schedule wins on a task, the built-in ones or your own training code.

Its folders follow what a study is made of:

- `tasks/`: what is trained: a Task (data, a model, a loss) for the built-in loop, the registry and the built-in
  tasks, the check that the loop can train a task, and an Experiment (a user's own training function);
- `engines/`: how runs train, behind one interface (`make_engine`): the sequential trainer, the stacked engine
  (its optimizers, its checkpoints) and the function engine;
- `store.py`: what is kept: runs and claims in SQLAlchemy tables (an SQLite file or PostgreSQL), and `work.py`,
  the loop by which processes share a study's runs through those claims;
- `studies/`: the questions: compare, find (the range test), tune (and its space), cooldowns, forecast, pbt
  (population-based training of the rate).

A study builds plans (`plan.py`: target, bound schedule, options, the config a run is stored under), hands them to
an engine through the work loop, and ranks what comes back (`ranking.py`). Importing this package needs numpy and
SQLAlchemy: torch, scikit-learn and mnist1d are imported when a task's data or model is built, Optuna when a
search starts.
"""

# `train`, `compare`, `cooldowns`, `experiment`, `tune` and `pbt` are the functions (they shadow their modules'
# names, which live in the folders: `from lrlab.lab.engines.train import execute`); `forecast` is the module of the
# loss laws. None of these imports torch or pandas. (__all__ is pinned by tests/lab/test_builtin_tasks.py.)
from .engines.train import train  # noqa: F401
from .options import TASK_DEFAULT, RunOptions  # noqa: F401
from .run import Run  # noqa: F401
from .store import Store  # noqa: F401
from .studies import forecast  # noqa: F401
from .studies.compare import compare  # noqa: F401
from .studies.comparison import Comparison  # noqa: F401
from .studies.cooldowns import Cooldowns, cooldowns  # noqa: F401
from .studies.find import find_lr  # noqa: F401
from .studies.pbt import pbt  # noqa: F401
from .studies.tune import tune  # noqa: F401
from .tasks.experiment import Experiment, experiment  # noqa: F401  (the decorator shadows its module's name)
from .tasks.task import Data, Split, Task, get_task, register_task, task_names

__all__ = ["Data", "Split", "Task", "get_task", "register_task", "task_names"]
