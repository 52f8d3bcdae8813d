package cloudformation_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"
)

// emfNamespace is where the workers' EMF lines put their metrics
// (worker/internal/metrics.Namespace; internal, so not importable here).
const emfNamespace = "ddbfleet"

// documentedMetrics reads the metric names from docs/metrics.md, whose
// table a test in worker/internal/metrics keeps equal to what the workers
// emit: so a metric added there must reach the dashboard too.
func documentedMetrics(t *testing.T) []string {
	t.Helper()
	md, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(\\w+)` \\|").FindAllStringSubmatch(string(md), -1) {
		names = append(names, m[1])
	}
	if len(names) < 5 {
		t.Fatalf("docs/metrics.md lists %d metrics; the table format changed?", len(names))
	}
	return names
}

// dashboardRefs is what one dashboard body graphs.
type dashboardRefs struct {
	metrics map[string]bool // "namespace/name" and "namespace/name/dimName=dimValue"
	alarms  []string        // ARNs in alarm widgets
}

var searchMetric = regexp.MustCompile(`SEARCH\('\{([^,}]+)[^}]*\}\s+MetricName="(\w+)"`)

func parseDashboard(body string) (dashboardRefs, error) {
	refs := dashboardRefs{metrics: map[string]bool{}}
	var d struct {
		Widgets []struct {
			Type       string `json:"type"`
			Properties struct {
				Region  string   `json:"region"`
				Metrics [][]any  `json:"metrics"`
				Alarms  []string `json:"alarms"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		return refs, fmt.Errorf("dashboard body is not JSON: %w", err)
	}
	if len(d.Widgets) == 0 {
		return refs, fmt.Errorf("dashboard has no widgets")
	}
	for i, w := range d.Widgets {
		switch w.Type {
		case "metric":
			if w.Properties.Region == "" {
				return refs, fmt.Errorf("widget %d has no region", i)
			}
			for _, m := range w.Properties.Metrics {
				if len(m) == 0 {
					continue
				}
				if opt, ok := m[0].(map[string]any); ok {
					if expr, _ := opt["expression"].(string); expr != "" {
						for _, s := range searchMetric.FindAllStringSubmatch(expr, -1) {
							refs.metrics[s[1]+"/"+s[2]] = true
						}
					}
					continue
				}
				var parts []string
				for _, e := range m {
					if s, ok := e.(string); ok {
						parts = append(parts, s)
					}
				}
				if len(parts) < 2 {
					continue
				}
				key := parts[0] + "/" + parts[1]
				refs.metrics[key] = true
				for j := 2; j+1 < len(parts); j += 2 {
					refs.metrics[key+"/"+parts[j]+"="+parts[j+1]] = true
				}
			}
		case "alarm":
			refs.alarms = append(refs.alarms, w.Properties.Alarms...)
		}
	}
	return refs, nil
}

// checkDashboard requires a dashboard that graphs every metric the workers
// emit, the work queue's depth, in-flight count and oldest message, and the
// dead-letter queue's depth, and whose alarm widget names real alarms.
func checkDashboard(r rendered, emitted []string) []string {
	boards := r.GetAllCloudWatchDashboardResources()
	if len(boards) == 0 {
		return []string{"no CloudWatch dashboard"}
	}
	var p []string
	for name, b := range boards {
		refs, err := parseDashboard(b.DashboardBody)
		if err != nil {
			p = append(p, name+": "+err.Error())
			continue
		}
		for _, m := range emitted {
			if !refs.metrics[emfNamespace+"/"+m] {
				p = append(p, fmt.Sprintf("dashboard %s does not graph %s/%s", name, emfNamespace, m))
			}
		}
		for _, q := range []struct{ metric, queue string }{
			{"ApproximateNumberOfMessagesVisible", "GetAtt(WorkQueue.QueueName)"},
			{"ApproximateNumberOfMessagesNotVisible", "GetAtt(WorkQueue.QueueName)"},
			{"ApproximateAgeOfOldestMessage", "GetAtt(WorkQueue.QueueName)"},
			{"ApproximateNumberOfMessagesVisible", "GetAtt(DeadLetterQueue.QueueName)"},
		} {
			if !refs.metrics["AWS/SQS/"+q.metric+"/QueueName="+q.queue] {
				p = append(p, fmt.Sprintf("dashboard %s does not graph %s of %s", name, q.metric, q.queue))
			}
		}
		alarms := r.GetAllCloudWatchAlarmResources()
		for _, arn := range refs.alarms {
			res := strings.TrimSuffix(strings.TrimPrefix(arn, "GetAtt("), ".Arn)")
			if _, ok := alarms[res]; !ok {
				p = append(p, fmt.Sprintf("dashboard %s shows alarm %s, which is not an alarm of this stack", name, arn))
			}
		}
	}
	return p
}

// checkNoProgressAlarm requires a metric-math alarm on the fleet-wide
// ItemsExported (no dimension: every export, ids unknown in advance)
// together with the work queue's visible and in-flight messages, over
// the parameter's number of one-minute periods, that notifies the topic
// and treats missing data as not breaching (see the template's comment).
func checkNoProgressAlarm(r rendered, minutes int) []string {
	for _, a := range r.GetAllCloudWatchAlarmResources() {
		var items, visible, inflight, expr *cloudwatch.Alarm_MetricDataQuery
		for i := range a.Metrics {
			q := &a.Metrics[i]
			switch {
			case q.Expression != nil && q.ReturnData != nil && *q.ReturnData:
				expr = q
			case q.MetricStat == nil || q.MetricStat.Metric == nil:
			case deref(q.MetricStat.Metric.Namespace) == emfNamespace && deref(q.MetricStat.Metric.MetricName) == "ItemsExported" &&
				len(q.MetricStat.Metric.Dimensions) == 0 && q.MetricStat.Stat == "Sum":
				items = q
			case alarmWatchesQueue([]cloudwatch.Alarm_MetricDataQuery{*q}, "GetAtt(WorkQueue.QueueName)"):
				switch deref(q.MetricStat.Metric.MetricName) {
				case "ApproximateNumberOfMessagesVisible":
					visible = q
				case "ApproximateNumberOfMessagesNotVisible":
					inflight = q
				}
			}
		}
		if items == nil {
			continue // not the no-progress alarm
		}
		var p []string
		if visible == nil || inflight == nil {
			p = append(p, "no-progress alarm does not watch the work queue's visible and in-flight messages")
		}
		if expr == nil {
			p = append(p, "no-progress alarm has no returned expression")
		} else {
			for _, q := range []*cloudwatch.Alarm_MetricDataQuery{items, visible, inflight} {
				if q != nil && !regexp.MustCompile(`\b`+q.Id+`\b`).MatchString(*expr.Expression) {
					p = append(p, fmt.Sprintf("no-progress alarm expression %q does not use %s", *expr.Expression, q.Id))
				}
			}
		}
		for _, q := range []*cloudwatch.Alarm_MetricDataQuery{items, visible, inflight} {
			if q != nil && q.MetricStat.Period != 60 {
				p = append(p, fmt.Sprintf("no-progress alarm: %s period %ds, want 60s (one data point per minute)", q.Id, q.MetricStat.Period))
			}
		}
		if a.EvaluationPeriods != minutes || a.DatapointsToAlarm == nil || *a.DatapointsToAlarm != minutes {
			p = append(p, fmt.Sprintf("no-progress alarm evaluates %d of %d periods, want NoProgressAlarmMinutes (%d) of %d", deref(a.DatapointsToAlarm), a.EvaluationPeriods, minutes, minutes))
		}
		if deref(a.TreatMissingData) != "notBreaching" {
			p = append(p, fmt.Sprintf("no-progress alarm treats missing data as %q; an idle queue stops reporting, which is not a stall (notBreaching)", deref(a.TreatMissingData)))
		}
		if !slices.Contains(a.AlarmActions, "Ref(AlarmTopic)") {
			p = append(p, "no-progress alarm does not notify the alarm topic")
		}
		return p
	}
	return []string{"no alarm on exports making no progress (fleet-wide ItemsExported with the work queue)"}
}

func noProgressMinutes(t *testing.T, path string, sc scenario) int {
	t.Helper()
	v, ok := newResolver(t, rawTemplate(t, path), sc.params).params["NoProgressAlarmMinutes"].(float64)
	if !ok {
		t.Fatal("parameter NoProgressAlarmMinutes missing")
	}
	return int(v)
}

func TestDashboardAndNoProgressAlarm(t *testing.T) {
	emitted := documentedMetrics(t)
	for _, path := range templates(t) {
		for _, sc := range scenarios {
			t.Run(path+"/"+sc.name, func(t *testing.T) {
				r := render(t, path, sc)
				for _, problem := range checkDashboard(r, emitted) {
					t.Error(problem)
				}
				for _, problem := range checkNoProgressAlarm(r, noProgressMinutes(t, path, sc)) {
					t.Error(problem)
				}
			})
		}
	}
}

// TestObservabilityChecksCatchRemovals breaks the dashboard and the alarm
// one way at a time, in memory, and requires the checks to say so.
func TestObservabilityChecksCatchRemovals(t *testing.T) {
	emitted := documentedMetrics(t)
	cases := []struct {
		name    string
		breakIt func(r rendered)
		want    string
	}{
		{"dashboard removed", func(r rendered) { delete(r.Resources, "FleetDashboard") }, "no CloudWatch dashboard"},
		{"a metric dropped from the dashboard", func(r rendered) {
			b := r.GetAllCloudWatchDashboardResources()["FleetDashboard"]
			b.DashboardBody = strings.ReplaceAll(b.DashboardBody, `"LeaseLosses"`, `"Nothing"`)
		}, "does not graph ddbfleet/LeaseLosses"},
		{"DLQ depth dropped from the dashboard", func(r rendered) {
			b := r.GetAllCloudWatchDashboardResources()["FleetDashboard"]
			b.DashboardBody = strings.ReplaceAll(b.DashboardBody, "GetAtt(DeadLetterQueue.QueueName)", "GetAtt(WorkQueue.QueueName)")
		}, "of GetAtt(DeadLetterQueue.QueueName)"},
		{"dashboard body broken", func(r rendered) {
			r.GetAllCloudWatchDashboardResources()["FleetDashboard"].DashboardBody = `{"widgets": [`
		}, "not JSON"},
		{"alarm widget names a missing alarm", func(r rendered) {
			b := r.GetAllCloudWatchDashboardResources()["FleetDashboard"]
			b.DashboardBody = strings.ReplaceAll(b.DashboardBody, "GetAtt(ExportNoProgressAlarm.Arn)", "GetAtt(GoneAlarm.Arn)")
		}, "GoneAlarm"},
		{"alarm removed", func(r rendered) { delete(r.Resources, "ExportNoProgressAlarm") }, "no alarm on exports making no progress"},
		{"alarm watches the DLQ", func(r rendered) {
			for _, q := range r.GetAllCloudWatchAlarmResources()["ExportNoProgressAlarm"].Metrics {
				if q.MetricStat != nil && len(q.MetricStat.Metric.Dimensions) > 0 {
					q.MetricStat.Metric.Dimensions[0].Value = "GetAtt(DeadLetterQueue.QueueName)"
				}
			}
		}, "visible and in-flight"},
		{"alarm treats missing data as breaching", func(r rendered) {
			s := "breaching"
			r.GetAllCloudWatchAlarmResources()["ExportNoProgressAlarm"].TreatMissingData = &s
		}, "notBreaching"},
		{"alarm ignores the parameter", func(r rendered) {
			r.GetAllCloudWatchAlarmResources()["ExportNoProgressAlarm"].EvaluationPeriods = 3
		}, "want NoProgressAlarmMinutes"},
		{"alarm expression drops the queue", func(r rendered) {
			a := r.GetAllCloudWatchAlarmResources()["ExportNoProgressAlarm"]
			for i := range a.Metrics {
				if a.Metrics[i].Expression != nil {
					e := "IF(FILL(items, 0) == 0, 1, 0)"
					a.Metrics[i].Expression = &e
				}
			}
		}, "does not use visible"},
		{"alarm notifies nobody", func(r rendered) {
			r.GetAllCloudWatchAlarmResources()["ExportNoProgressAlarm"].AlarmActions = nil
		}, "alarm topic"},
	}
	const path = "ddbfleet.yaml"
	minutes := noProgressMinutes(t, path, scenarios[0])
	check := func(r rendered) []string {
		return append(checkDashboard(r, emitted), checkNoProgressAlarm(r, minutes)...)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := render(t, path, scenarios[0])
			if p := check(r); len(p) != 0 {
				t.Fatalf("intact template already fails: %v", p)
			}
			c.breakIt(r)
			p := check(r)
			if !strings.Contains(strings.Join(p, "\n"), c.want) {
				t.Fatalf("check did not report %q after the change; got %v", c.want, p)
			}
		})
	}
}
