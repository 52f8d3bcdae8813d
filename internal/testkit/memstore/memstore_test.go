package memstore_test

import (
	"testing"
	"time"

	"github.com/ddbfleet/ddbfleet/internal/testkit/memstore"
	"github.com/ddbfleet/ddbfleet/internal/testkit/storetest"
	"github.com/ddbfleet/ddbfleet/shared/clock"
	"github.com/ddbfleet/ddbfleet/shared/controltable"
)

// TestStore holds the in-memory store to the same cases as DynamoDB Local
// (shared/controltable/store_e2e_test.go), so a unit test on memstore says
// what the real control table would do.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (controltable.Store, *clock.Manual) {
		clk := clock.NewManual(time.Now().Truncate(time.Millisecond))
		return memstore.New(clk), clk
	})
}
