"""Fine-tuning for every task: the loop, its settings, run folders, exports; the tasks in ``tasks/``."""
