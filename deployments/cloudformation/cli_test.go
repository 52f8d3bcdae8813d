package cloudformation_test

import (
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ddbfleet/ddbfleet/deployments/internal/clibuild"
)

// contractEnv are the DDBFLEET_* variables the CLI contract defines
// (shared/reference/cli-contract.md); a task definition may set no others.
var contractEnv = []string{
	"DDBFLEET_CONTROL_TABLE", "DDBFLEET_QUEUE_NAME", "DDBFLEET_S3_FORCE_PATH_STYLE",
	"DDBFLEET_LOG_FORMAT", "DDBFLEET_LOG_LEVEL", "DDBFLEET_LEASE_DURATION",
}

// TestTaskCommandsMatchCLI builds the real binaries and checks every
// container command in every task definition against their help output,
// so a renamed flag breaks this test instead of a deployment.
func TestTaskCommandsMatchCLI(t *testing.T) {
	bins := clibuild.Build(t, t.TempDir())
	binFor := map[string]string{"coordinator": bins.Coordinator, "worker": bins.Worker}
	helpCache := map[string]string{}
	help := func(bin string, args ...string) string {
		key := bin + " " + strings.Join(args, " ")
		if h, ok := helpCache[key]; ok {
			return h
		}
		h := clibuild.Help(t, bin, append(args, "--help")...)
		helpCache[key] = h
		return h
	}

	checked := 0
	for _, p := range templates(t) {
		for _, sc := range scenarios {
			r := render(t, p, sc)
			for tdName, td := range r.GetAllECSTaskDefinitionResources() {
				for _, c := range td.ContainerDefinitions {
					where := p + "/" + sc.name + "/" + tdName + "/" + c.Name
					// The image's entrypoint is the worker.
					binName := "worker"
					if len(c.EntryPoint) > 0 {
						binName = path.Base(c.EntryPoint[0])
					}
					bin, ok := binFor[binName]
					if !ok {
						t.Errorf("%s: entrypoint %v is neither coordinator nor worker", where, c.EntryPoint)
						continue
					}
					top := help(bin)
					text := top
					if len(c.Command) > 0 && !strings.HasPrefix(c.Command[0], "-") {
						sub := c.Command[0]
						if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(sub) + `\b`).MatchString(top) {
							t.Errorf("%s: %s has no subcommand %q:\n%s", where, binName, sub, top)
							continue
						}
						text += help(bin, sub)
					}
					for _, arg := range c.Command {
						if !strings.HasPrefix(arg, "--") || arg == "--help" {
							continue
						}
						flag, _, _ := strings.Cut(arg, "=")
						if !regexp.MustCompile(`(^|[\s,])` + regexp.QuoteMeta(flag) + `([\s=,]|$)`).MatchString(text) {
							t.Errorf("%s: %s %v: flag %s is not in the help output", where, binName, c.Command, flag)
						}
						checked++
					}
					for _, kv := range c.Environment {
						name := deref(kv.Name)
						if !strings.HasPrefix(name, "DDBFLEET_") {
							continue
						}
						if !slices.Contains(contractEnv, name) {
							t.Errorf("%s: %s is not a variable the CLI contract defines", where, name)
						}
						// When the help lists environment variables (urfave/cli
						// does, as [$NAME]), the one we set must be among them.
						if strings.Contains(text, "DDBFLEET_") && !strings.Contains(text, name) {
							t.Errorf("%s: %s does not appear in %s's help, which lists its variables", where, name, binName)
						}
						checked++
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no flags or variables were checked; the test is not looking at the task definitions")
	}
}
