"""The queue's side of job control. The contract itself (`JobControl`, `JobInterrupted`,
`ImageSkipped`, `ProgressSnapshot`) belongs to the engine, which raises and reports through it;
it lives in modules/engine/control.py and is re-exported here for the queue, UI and API."""

from modules.engine.control import ImageSkipped, JobControl, JobInterrupted, PreviewFn, ProgressSnapshot

__all__ = ["ImageSkipped", "JobControl", "JobInterrupted", "PreviewFn", "ProgressSnapshot"]
