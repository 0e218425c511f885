"""The job pipeline: queues, the worker, the job runner."""
