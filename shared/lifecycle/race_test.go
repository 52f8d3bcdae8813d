//go:build race

package lifecycle_test

// raceEnabled: the race detector slows the code tenfold, so wall-time
// targets cannot be checked.
const raceEnabled = true
