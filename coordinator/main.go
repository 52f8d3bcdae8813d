// Command coordinator plans, starts, watches and verifies ddbfleet exports.
// Run `coordinator --help` for its commands.
package main

import (
	"os"

	"github.com/ddbfleet/ddbfleet/coordinator/internal/coordcli"
	"github.com/ddbfleet/ddbfleet/shared/fleetcli"
)

func main() { fleetcli.Main(coordcli.App(), os.Args) }
