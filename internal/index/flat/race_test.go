//go:build race

package flat

// raceEnabled: under the race detector sync.Pool drops items at random, so
// the zero-allocation check does not hold.
const raceEnabled = true
