package engine

// SetChunksQueued makes e call f once a feed's chunks are acknowledged by
// NATS, before the run record counts them, so a test can stop a host
// there.
func SetChunksQueued(e *Engine, f func(last int64, final bool)) { e.chunksQueued = f }
