"""What is trained: a Task (data, a model, a loss) for the built-in loop, the registry and the built-in tasks,
the check that the loop can train a task, and an Experiment (a user's own training function)."""
