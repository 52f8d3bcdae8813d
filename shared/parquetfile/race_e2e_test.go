//go:build e2e && race

package parquetfile

// raceEnabled: the race detector multiplies memory use, so memory targets
// cannot be checked.
const raceEnabled = true
