package cloudformation_test

import (
	"fmt"
	"strings"
	"testing"
)

// checkReferences walks the unevaluated template and reports every Ref,
// GetAtt, Sub variable, condition name and DependsOn that names nothing.
func checkReferences(raw map[string]any) []string {
	params, _ := raw["Parameters"].(map[string]any)
	resources, _ := raw["Resources"].(map[string]any)
	conditions, _ := raw["Conditions"].(map[string]any)
	var p []string
	name := func(n string) bool {
		_, isParam := params[n]
		_, isRes := resources[n]
		_, isPseudo := pseudo[n]
		return isParam || isRes || isPseudo
	}
	cond := func(where, n string) {
		if _, ok := conditions[n]; !ok {
			p = append(p, fmt.Sprintf("%s: unknown condition %s", where, n))
		}
	}
	var walk func(where string, v any, local map[string]bool)
	walk = func(where string, v any, local map[string]bool) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(where, e, local)
			}
		case map[string]any:
			if len(v) == 1 {
				for fn, arg := range v {
					args, _ := arg.([]any)
					switch fn {
					case "Ref":
						if s, _ := arg.(string); !name(s) {
							p = append(p, fmt.Sprintf("%s: Ref %v resolves to nothing", where, arg))
						}
						return
					case "Fn::GetAtt":
						res := ""
						if s, ok := arg.(string); ok {
							res, _, _ = strings.Cut(s, ".")
						} else if len(args) == 2 {
							res = fmt.Sprint(args[0])
						}
						if _, ok := resources[res]; !ok {
							p = append(p, fmt.Sprintf("%s: GetAtt of unknown resource %q", where, res))
						}
						return
					case "Fn::Sub":
						tmpl, vars := "", map[string]bool{}
						if s, ok := arg.(string); ok {
							tmpl = s
						} else if len(args) == 2 {
							tmpl, _ = args[0].(string)
							m, _ := args[1].(map[string]any)
							for k, e := range m {
								vars[k] = true
								walk(where, e, local)
							}
						}
						for _, m := range subVar.FindAllStringSubmatch(tmpl, -1) {
							n := m[1]
							if strings.HasPrefix(n, "!") || vars[n] {
								continue
							}
							if res, _, ok := strings.Cut(n, "."); ok {
								if _, isRes := resources[res]; !isRes {
									p = append(p, fmt.Sprintf("%s: Sub ${%s} names unknown resource %s", where, n, res))
								}
							} else if !name(n) {
								p = append(p, fmt.Sprintf("%s: Sub ${%s} resolves to nothing", where, n))
							}
						}
						return
					case "Fn::If":
						if len(args) == 3 {
							cond(where, fmt.Sprint(args[0]))
							walk(where, args[1:], local)
						}
						return
					case "Condition":
						cond(where, fmt.Sprint(arg))
						return
					}
				}
			}
			for k, e := range v {
				walk(where+"/"+k, e, local)
			}
		}
	}
	for n, c := range conditions {
		// A bare string in a condition is the short form of !Condition.
		if l, ok := c.(map[string]any); ok {
			for _, args := range l {
				for _, a := range toList(args) {
					if s, ok := a.(string); ok {
						if _, isCond := conditions[s]; isCond {
							continue
						}
					}
					walk("Conditions/"+n, a, nil)
				}
			}
		}
	}
	for n, r := range resources {
		m := r.(map[string]any)
		if c, ok := m["Condition"].(string); ok {
			cond("Resources/"+n, c)
		}
		for _, d := range toList(m["DependsOn"]) {
			if _, ok := resources[fmt.Sprint(d)]; !ok {
				p = append(p, fmt.Sprintf("Resources/%s: DependsOn unknown %v", n, d))
			}
		}
		walk("Resources/"+n, m["Properties"], nil)
	}
	outputs, _ := raw["Outputs"].(map[string]any)
	for n, o := range outputs {
		walk("Outputs/"+n, o, nil)
	}
	rules, _ := raw["Rules"].(map[string]any)
	for n, r := range rules {
		walk("Rules/"+n, r, nil)
	}
	return p
}

// checkParameters requires a description and a constraint on every
// parameter; AWS-specific types are constrained by CloudFormation itself.
func checkParameters(raw map[string]any) []string {
	params, _ := raw["Parameters"].(map[string]any)
	var p []string
	for _, n := range sortedKeys(params) {
		def := params[n].(map[string]any)
		if d, _ := def["Description"].(string); strings.TrimSpace(d) == "" {
			p = append(p, n+": no Description")
		}
		typ, _ := def["Type"].(string)
		constrained := strings.HasPrefix(typ, "AWS::") || strings.HasPrefix(typ, "List<AWS::")
		for _, k := range []string{"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"} {
			if _, ok := def[k]; ok {
				constrained = true
			}
		}
		if !constrained {
			p = append(p, n+": no AllowedValues, AllowedPattern or MinValue/MaxValue")
		}
	}
	return p
}

func TestReferencesResolve(t *testing.T) {
	for _, path := range templates(t) {
		for _, problem := range checkReferences(rawTemplate(t, path)) {
			t.Errorf("%s: %s", path, problem)
		}
	}
}

func TestParametersDocumentedAndConstrained(t *testing.T) {
	for _, path := range templates(t) {
		for _, problem := range checkParameters(rawTemplate(t, path)) {
			t.Errorf("%s: %s", path, problem)
		}
	}
}
