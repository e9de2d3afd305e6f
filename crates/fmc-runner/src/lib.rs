//! Plays to batches to tasks per host: observe, diff, apply; handlers, tags, forks, failures; emits events
