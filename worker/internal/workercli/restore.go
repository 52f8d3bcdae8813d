package workercli

import (
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/ddbfleet/ddbfleet/shared/controltable"
	"github.com/ddbfleet/ddbfleet/shared/fault"
	"github.com/ddbfleet/ddbfleet/shared/objstore"
	"github.com/ddbfleet/ddbfleet/worker/internal/segrestore"
)

// newRestorer builds the runner of restore units. DDBFLEET_RESTORE_CHECKPOINT_ITEMS
// (default 1000) sets how many items a checkpoint covers, so tests can
// make a killed worker resume mid-file.
func newRestorer(db segrestore.WriteAPI, store controltable.Store, buckets func(string) *objstore.Store, log *zap.Logger, lease time.Duration, policy fault.Policy) *segrestore.Restorer {
	every := 1000
	if v, err := strconv.Atoi(os.Getenv("DDBFLEET_RESTORE_CHECKPOINT_ITEMS")); err == nil && v > 0 {
		every = v
	}
	return &segrestore.Restorer{
		DB: db, Commit: store, Log: log, LeaseDuration: lease, Retry: policy,
		Objects:         func(bucket string) segrestore.Objects { return buckets(bucket) },
		CheckpointItems: every, CheckpointEvery: 5 * time.Second,
	}
}
