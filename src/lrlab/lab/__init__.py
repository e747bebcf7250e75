"""The lab: tasks (data, a model, a loss), and the machinery that trains and compares schedules on them.

Importing this package needs only numpy: torch, scikit-learn and mnist1d are imported when a task's data
or model is built.
"""

from .task import Data, Split, Task, get_task, register_task, task_names

__all__ = ["Data", "Split", "Task", "get_task", "register_task", "task_names"]
