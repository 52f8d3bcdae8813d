package cloudformation_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	cfn "github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// templates lists every template in this directory; each test runs on all.
func templates(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no templates found")
	}
	return paths
}

// rawTemplate reads a template as a generic tree with intrinsics in long
// form ({"Ref": …}, {"Fn::Sub": …}), untouched by evaluation.
func rawTemplate(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(js, &raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

// sampleParams are values for parameters without a default, so a template
// can be rendered as CloudFormation would for a real stack.
var sampleParams = map[string]any{
	"ImageUri":         "123456789012.dkr.ecr.us-east-1.amazonaws.com/ddbfleet:v1",
	"VpcId":            "vpc-0123456789abcdef0",
	"SubnetIds":        "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
	"SourceTableNames": "orders,customers",
}

// A scenario is a set of parameter overrides a stack could be deployed with.
type scenario struct {
	name   string
	params map[string]any
}

var scenarios = []scenario{
	{"defaults", nil},
	{"scheduled-spot-deep-archive", map[string]any{
		"ScheduleExpression": "rate(1 day)", "UseFargateSpot": "true",
		"DeepArchiveTransitionDays": "180", "ExportReadCapacityCap": "500",
		"SourceTableNames": "orders,customers,invoices", "AlarmEmail": "ops@example.com",
		"NoProgressAlarmMinutes": "45",
	}},
	{"existing-bucket", map[string]any{
		"CreateBucket": "false", "BucketName": "acme-exports",
		"ExistingBucketKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"ScheduleExpression":      "cron(0 2 ? * SUN *)", "EcrRepositoryName": "",
	}},
}

// rendered is a template evaluated for one scenario: conditions decided,
// parameters substituted, and references to resources left as readable
// markers "Ref(Logical)" and "GetAtt(Logical.Attr)" so tests can check
// what is wired to what.
type rendered struct {
	*cfn.Template
	path, scenario string
}

const (
	noValue = "\x00NoValue"
)

func render(t *testing.T, path string, sc scenario) rendered {
	t.Helper()
	raw := rawTemplate(t, path)
	r := newResolver(t, raw, sc.params)
	out := map[string]any{}
	for k, v := range raw {
		switch k {
		case "Resources":
			res := map[string]any{}
			for name, def := range v.(map[string]any) {
				m := def.(map[string]any)
				if c, ok := m["Condition"].(string); ok && !r.condition(c) {
					continue
				}
				res[name] = r.resolve(m)
			}
			out[k] = res
		case "Conditions", "Rules":
			// Conditions are decided by the resolver; Rules are assertions
			// CloudFormation checks before a deploy and goformation ignores.
		case "Outputs":
			outs := map[string]any{}
			for name, def := range v.(map[string]any) {
				m := def.(map[string]any)
				if c, ok := m["Condition"].(string); ok && !r.condition(c) {
					continue
				}
				outs[name] = r.resolve(m)
			}
			out[k] = outs
		default:
			out[k] = v
		}
	}
	js, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := goformation.ParseJSONWithOptions(js, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("%s (%s): goformation cannot parse the rendered template: %v", path, sc.name, err)
	}
	return rendered{Template: tmpl, path: path, scenario: sc.name}
}

// resolver evaluates intrinsic functions the way CloudFormation would for
// one set of parameter values.
type resolver struct {
	t          *testing.T
	raw        map[string]any
	params     map[string]any
	conditions map[string]any
	resources  map[string]any
	memo       map[string]bool
}

var pseudo = map[string]any{
	"AWS::AccountId": "123456789012", "AWS::Region": "us-east-1", "AWS::Partition": "aws",
	"AWS::StackName": "ddbfleet", "AWS::URLSuffix": "amazonaws.com",
	"AWS::StackId":          "arn:aws:cloudformation:us-east-1:123456789012:stack/ddbfleet/id",
	"AWS::NotificationARNs": []any{},
	"AWS::NoValue":          noValue,
}

func newResolver(t *testing.T, raw map[string]any, overrides map[string]any) *resolver {
	r := &resolver{t: t, raw: raw, params: map[string]any{}, memo: map[string]bool{}}
	r.conditions, _ = raw["Conditions"].(map[string]any)
	r.resources, _ = raw["Resources"].(map[string]any)
	params, _ := raw["Parameters"].(map[string]any)
	for name, p := range params {
		def := p.(map[string]any)
		v, ok := overrides[name]
		if !ok {
			v, ok = sampleParams[name]
		}
		if !ok {
			v, ok = def["Default"]
		}
		if !ok {
			t.Fatalf("parameter %s has no default and no sample value", name)
		}
		typ, _ := def["Type"].(string)
		s := fmt.Sprint(v)
		switch {
		case typ == "Number":
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("parameter %s: %q is not a number", name, s)
			}
			v = f
		case typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<"):
			var l []any
			for _, e := range strings.Split(s, ",") {
				l = append(l, e)
			}
			v = l
		default:
			v = s
		}
		r.params[name] = v
	}
	return r
}

func (r *resolver) condition(name string) bool {
	if v, ok := r.memo[name]; ok {
		return v
	}
	expr, ok := r.conditions[name]
	if !ok {
		r.t.Fatalf("unknown condition %s", name)
	}
	v := r.evalCond(expr)
	r.memo[name] = v
	return v
}

func (r *resolver) evalCond(expr any) bool {
	// goformation's YAML reader turns the short form !Condition X into "X".
	if name, ok := expr.(string); ok {
		return r.condition(name)
	}
	m, ok := expr.(map[string]any)
	if !ok || len(m) != 1 {
		r.t.Fatalf("bad condition expression %v", expr)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			return r.condition(arg.(string))
		case "Fn::Equals":
			return fmt.Sprint(r.resolve(args[0])) == fmt.Sprint(r.resolve(args[1]))
		case "Fn::Not":
			return !r.evalCond(args[0])
		case "Fn::And":
			for _, a := range args {
				if !r.evalCond(a) {
					return false
				}
			}
			return true
		case "Fn::Or":
			for _, a := range args {
				if r.evalCond(a) {
					return true
				}
			}
			return false
		}
		r.t.Fatalf("unsupported condition function %s", fn)
	}
	return false
}

var subVar = regexp.MustCompile(`\$\{([^}]+)\}`)

func (r *resolver) ref(name string) any {
	if v, ok := r.params[name]; ok {
		return v
	}
	if v, ok := pseudo[name]; ok {
		return v
	}
	if _, ok := r.resources[name]; ok {
		return "Ref(" + name + ")"
	}
	r.t.Fatalf("Ref to unknown name %s", name)
	return nil
}

func (r *resolver) resolve(v any) any {
	switch v := v.(type) {
	case []any:
		out := []any{}
		for _, e := range v {
			if x := r.resolve(e); x != noValue {
				out = append(out, x)
			}
		}
		return out
	case map[string]any:
		if len(v) == 1 {
			for fn, arg := range v {
				if x, ok := r.intrinsic(fn, arg); ok {
					return x
				}
			}
		}
		out := map[string]any{}
		for k, e := range v {
			if x := r.resolve(e); x != noValue {
				out[k] = x
			}
		}
		return out
	default:
		return v
	}
}

func (r *resolver) intrinsic(fn string, arg any) (any, bool) {
	args, _ := arg.([]any)
	str := func(x any) string {
		s, ok := x.(string)
		if !ok {
			if f, isNum := x.(float64); isNum {
				return strconv.FormatFloat(f, 'f', -1, 64)
			}
			r.t.Fatalf("%s: expected a string, got %#v", fn, x)
		}
		return s
	}
	switch fn {
	case "Ref":
		return r.ref(arg.(string)), true
	case "Fn::GetAtt":
		var parts []string
		if s, ok := arg.(string); ok {
			parts = strings.SplitN(s, ".", 2)
		} else {
			parts = []string{str(args[0]), str(args[1])}
		}
		if _, ok := r.resources[parts[0]]; !ok {
			r.t.Fatalf("GetAtt of unknown resource %s", parts[0])
		}
		return "GetAtt(" + parts[0] + "." + parts[1] + ")", true
	case "Fn::Sub":
		tmpl, vars := "", map[string]any{}
		if s, ok := arg.(string); ok {
			tmpl = s
		} else {
			tmpl = str(args[0])
			for k, e := range args[1].(map[string]any) {
				vars[k] = r.resolve(e)
			}
		}
		return subVar.ReplaceAllStringFunc(tmpl, func(m string) string {
			name := m[2 : len(m)-1]
			if strings.HasPrefix(name, "!") {
				return "${" + name[1:] + "}"
			}
			if x, ok := vars[name]; ok {
				return str(x)
			}
			if res, attr, ok := strings.Cut(name, "."); ok {
				x, _ := r.intrinsic("Fn::GetAtt", []any{res, attr})
				return str(x)
			}
			return str(r.ref(name))
		}), true
	case "Fn::Join":
		var parts []string
		list := r.resolve(args[1])
		for _, e := range list.([]any) {
			parts = append(parts, str(e))
		}
		return strings.Join(parts, str(args[0])), true
	case "Fn::Split":
		var out []any
		for _, e := range strings.Split(str(r.resolve(args[1])), str(args[0])) {
			out = append(out, e)
		}
		return out, true
	case "Fn::Select":
		i, err := strconv.Atoi(str(r.resolve(args[0])))
		if err != nil {
			r.t.Fatalf("Fn::Select index: %v", err)
		}
		list := r.resolve(args[1]).([]any)
		if i >= len(list) {
			r.t.Fatalf("Fn::Select index %d out of range %v", i, list)
		}
		return list[i], true
	case "Fn::If":
		if r.condition(str(args[0])) {
			return r.resolve(args[1]), true
		}
		return r.resolve(args[2]), true
	case "Fn::ImportValue", "Fn::GetAZs", "Fn::Base64", "Fn::Cidr", "Fn::FindInMap":
		r.t.Fatalf("%s is not used by ddbfleet templates; teach the resolver before using it", fn)
	}
	return nil, false
}

// sortedKeys gives stable test output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// forEachRendering runs fn on every template under every scenario.
func forEachRendering(t *testing.T, fn func(t *testing.T, r rendered)) {
	for _, path := range templates(t) {
		for _, sc := range scenarios {
			t.Run(path+"/"+sc.name, func(t *testing.T) {
				fn(t, render(t, path, sc))
			})
		}
	}
}
