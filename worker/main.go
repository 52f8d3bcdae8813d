// Command worker consumes ddbfleet segment messages and exports them to S3.
// Run `worker run --help` for its flags.
package main

import (
	"os"

	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
	"github.com/ddbfleet/ddbfleet/worker/internal/workercli"
)

func main() { fleetcli.Main(workercli.App(), os.Args) }
