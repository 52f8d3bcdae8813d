//go:build e2e && !race

package parquetfile

const raceEnabled = false
