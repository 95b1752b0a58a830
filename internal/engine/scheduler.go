package engine

import (
	"container/heap"
	"runtime"
	"sync"
	"time"
)

// Scheduler runs the background work of many collections on a few
// goroutines: the monitor's rounds (sampled queries re-run exactly, stored
// vector probes, the metric check, the autopilot, guardrail persistence) and
// a bound on the goroutines that link vectors into graphs. A process opens
// one and passes it to every collection (Options.Scheduler): a thousand
// collections then cost one monitor goroutine, not a thousand timers, and an
// idle collection is visited ever more rarely (every 30 s at most once it
// has been idle a while), so that an idle process uses no CPU to speak of.
//
// The monitor's work is also capped as a whole: after each round the worker
// rests long enough that the monitor uses at most Budget of one core,
// whatever the number of collections (each collection's own sampler budget
// still applies within it).
//
// Scheduler is safe for concurrent use.
type Scheduler struct {
	budget float64
	// insert bounds the goroutines linking vectors into graphs across all
	// collections (the indexers share GOMAXPROCS of them).
	insert chan struct{}

	mu struct {
		sync.Mutex
		h      schedHeap
		closed bool
	}
	idle    *sync.Cond // signalled when an entry stops running
	wake    chan struct{}
	closing chan struct{}
	wg      sync.WaitGroup
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Budget is the share of one core the monitor rounds of all
	// collections may use together; default 0.10.
	Budget float64
	// InsertWorkers bounds the goroutines linking vectors into graphs, all
	// collections together; default GOMAXPROCS.
	InsertWorkers int
}

// Idle backoff of a collection's monitor rounds: the wait after a round
// grows while nothing happens (no write, no sampled query), up to
// maxIdleWait; activity brings it back to the collection's base interval.
const maxIdleWait = 30 * time.Second

// maxRest bounds the scheduler's rest after one round.
const maxRest = 100 * time.Millisecond

// NewScheduler starts a scheduler; Close stops it.
func NewScheduler(opts SchedulerOptions) *Scheduler {
	if opts.Budget <= 0 {
		opts.Budget = 0.10
	}
	if opts.InsertWorkers <= 0 {
		opts.InsertWorkers = runtime.GOMAXPROCS(0)
	}
	s := &Scheduler{budget: min(opts.Budget, 1), insert: make(chan struct{}, opts.InsertWorkers),
		wake: make(chan struct{}, 1), closing: make(chan struct{})}
	s.idle = sync.NewCond(&s.mu)
	s.wg.Add(1)
	go s.run()
	return s
}

// Close stops the scheduler once the rounds running have finished. The
// collections using it must be closed first.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return
	}
	s.mu.closed = true
	s.mu.Unlock()
	close(s.closing)
	s.wg.Wait()
}

// schedEntry is one collection's place in the scheduler.
type schedEntry struct {
	c       *Collection
	due     time.Time
	index   int  // in the heap; -1 when not in it
	running bool // a round runs now
	again   bool // poked while running: run again at once
	removed bool

	// The collection's round state (the scheduler goroutine only).
	wait       time.Duration // current wait between rounds (idle backoff)
	nextProbe  time.Time
	idleSince  time.Time
	lastWrites int64
}

type schedHeap []*schedEntry

func (h schedHeap) Len() int           { return len(h) }
func (h schedHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h schedHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *schedHeap) Push(x any) {
	e := x.(*schedEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *schedHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// register adds c, due at once, storing its entry in *dst before the
// scheduler can run a round of it (a round reads it).
func (s *Scheduler) register(c *Collection, dst **schedEntry) {
	e := &schedEntry{c: c, due: time.Now(), index: -1}
	s.mu.Lock()
	*dst = e
	heap.Push(&s.mu.h, e)
	s.mu.Unlock()
	s.signal()
}

// unregister removes e and waits for a round of it that is running.
func (s *Scheduler) unregister(e *schedEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.removed = true
	if e.index >= 0 {
		heap.Remove(&s.mu.h, e.index)
	}
	for e.running {
		s.idle.Wait()
	}
}

// poke makes e due at once (an urgent change to persist, a sampled query).
func (s *Scheduler) poke(e *schedEntry) {
	s.mu.Lock()
	switch {
	case e.removed:
	case e.running:
		e.again = true
	case e.index >= 0:
		e.due = time.Now()
		heap.Fix(&s.mu.h, e.index)
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the scheduler goroutine: it runs the due rounds, earliest first,
// and rests between them to keep within the budget.
func (s *Scheduler) run() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var e *schedEntry
		wait := time.Hour
		if len(s.mu.h) > 0 {
			if d := time.Until(s.mu.h[0].due); d <= 0 {
				e = heap.Pop(&s.mu.h).(*schedEntry)
				e.running = true
			} else {
				wait = d
			}
		}
		s.mu.Unlock()
		if e == nil {
			timer.Reset(wait)
			select {
			case <-s.closing:
				return
			case <-s.wake:
			case <-timer.C:
			}
			continue
		}
		start := time.Now()
		next := e.c.monitorRound(e)
		took := time.Since(start)
		s.mu.Lock()
		e.running = false
		if !e.removed {
			e.due = time.Now().Add(next)
			if e.again {
				e.due, e.again = time.Now(), false
			}
			heap.Push(&s.mu.h, e)
		}
		s.idle.Broadcast()
		s.mu.Unlock()
		// Rest so that rounds use at most budget of one core; at most
		// maxRest, so that a slow round (a lock wait, an fsync) does not
		// hold up every other collection for long.
		if rest := min(time.Duration(float64(took)*(1-s.budget)/s.budget), maxRest); rest > 50*time.Microsecond {
			timer.Reset(rest)
			select {
			case <-s.closing:
				return
			case <-timer.C:
			}
		}
	}
}

// acquireInsert takes one of the process's insert workers.
func (s *Scheduler) acquireInsert() { s.insert <- struct{}{} }

// releaseInsert returns an insert worker.
func (s *Scheduler) releaseInsert() { <-s.insert }
