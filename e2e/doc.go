// Package e2e holds the end-to-end tests of the real coordinator and
// worker binaries against the local stack (DynamoDB Local, fauxqs,
// versitygw): whole exports, resumes after kill -9, zombies, drains,
// duplicate deliveries, fault injection, every export option and read
// pacing. The tests carry the build tag e2e and need the binaries built
// and the stack running; `make test` does both. Their harness is
// internal/testkit/fleet.
package e2e
