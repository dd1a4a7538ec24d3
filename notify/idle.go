package notify

// Idle tells a Flush when a queue has drained. Its channel is closed while
// the queue is idle and replaced by an open one when work arrives, so that
// a Flush can wait for it in a select alongside its context. The zero
// value is idle. Idle does no locking: it lives under the mutex that guards
// the queue it describes.
type Idle struct {
	busy chan struct{} // nil while idle
}

// Set records whether the queue is idle now, waking the waiters when it
// becomes so.
func (i *Idle) Set(idle bool) {
	switch {
	case idle && i.busy != nil:
		close(i.busy)
		i.busy = nil
	case !idle && i.busy == nil:
		i.busy = make(chan struct{})
	}
}

// Done returns a channel that is closed once the queue is idle; already
// closed if it is idle now.
func (i *Idle) Done() <-chan struct{} {
	if i.busy == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return i.busy
}
