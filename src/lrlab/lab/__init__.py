"""The lab: tasks (data, a model, a loss), and the machinery that trains and compares schedules on them.

Importing this package needs only numpy: torch, scikit-learn and mnist1d are imported when a task's data
or model is built.
"""

# `train` and `compare` are the functions (they shadow their modules' names; `from lrlab.lab.train import plan`
# still works). None of these imports torch or pandas.
from .compare import Comparison, compare
from .run import Run
from .store import Store
from .task import Data, Split, Task, get_task, register_task, task_names
from .train import train

__all__ = ["Comparison", "Data", "Run", "Split", "Store", "Task", "compare", "get_task", "register_task",
           "task_names", "train"]
