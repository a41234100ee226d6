package bus

// Joined is how many calls wait for the next write of key, joined to the
// one in progress.
func (a *Appender) Joined(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if b := a.pending[key]; b != nil {
		return len(b.waiters)
	}
	return 0
}
