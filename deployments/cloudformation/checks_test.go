package cloudformation_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"
)

// Each check returns the problems it finds, one sentence each, so the
// negative tests can show that removing a safeguard is reported.

// iamAllowList names the only policy statements (resource/Sid) allowed a
// bare "*" action or resource, with the reason. The README repeats it.
var iamAllowList = map[string]string{
	"DataKey/EnableRootAccountAdministration": `key policies name their own key as "*"; this is AWS's default key policy, without it the key becomes unmanageable and IAM policies cannot grant its use`,
	"DataKey/AllowCloudWatchAlarmsToPublish":  `key policy: "*" is this key; CloudWatch needs it to publish alarms to the encrypted SNS topic`,
	"DataKey/AllowCloudWatchLogs":             `key policy: "*" is this key; scoped by encryption context to this stack's log groups`,
	"TaskExecutionRole/EcrAuthToken":          `ecr:GetAuthorizationToken supports no resource-level permissions`,
}

func checkEncryption(r rendered) []string {
	var p []string
	for name, b := range r.GetAllS3BucketResources() {
		ok := false
		if b.BucketEncryption != nil {
			for _, rule := range b.BucketEncryption.ServerSideEncryptionConfiguration {
				d := rule.ServerSideEncryptionByDefault
				if d != nil && d.SSEAlgorithm == "aws:kms" && d.KMSMasterKeyID != nil && *d.KMSMasterKeyID != "" &&
					rule.BucketKeyEnabled != nil && *rule.BucketKeyEnabled {
					ok = true
				}
			}
		}
		if !ok {
			p = append(p, fmt.Sprintf("bucket %s: no SSE-KMS default encryption with a customer managed key and Bucket Keys", name))
		}
	}
	for name, tb := range r.GetAllDynamoDBTableResources() {
		if tb.SSESpecification == nil || !tb.SSESpecification.SSEEnabled {
			p = append(p, fmt.Sprintf("table %s: SSESpecification.SSEEnabled is not true", name))
		}
	}
	for name, q := range r.GetAllSQSQueueResources() {
		if (q.SqsManagedSseEnabled == nil || !*q.SqsManagedSseEnabled) && (q.KmsMasterKeyId == nil || *q.KmsMasterKeyId == "") {
			p = append(p, fmt.Sprintf("queue %s: no server-side encryption", name))
		}
	}
	for name, lg := range r.GetAllLogsLogGroupResources() {
		if lg.KmsKeyId == nil || *lg.KmsKeyId == "" {
			p = append(p, fmt.Sprintf("log group %s: not encrypted with the stack key", name))
		}
	}
	for name, tp := range r.GetAllSNSTopicResources() {
		if tp.KmsMasterKeyId == nil || *tp.KmsMasterKeyId == "" {
			p = append(p, fmt.Sprintf("topic %s: not encrypted", name))
		}
	}
	for name, k := range r.GetAllKMSKeyResources() {
		if k.EnableKeyRotation == nil || !*k.EnableKeyRotation {
			p = append(p, fmt.Sprintf("key %s: rotation off", name))
		}
	}
	return p
}

func checkBucketAccess(r rendered) []string {
	var p []string
	for name, b := range r.GetAllS3BucketResources() {
		c := b.PublicAccessBlockConfiguration
		on := func(b *bool) bool { return b != nil && *b }
		if c == nil || !on(c.BlockPublicAcls) || !on(c.BlockPublicPolicy) || !on(c.IgnorePublicAcls) || !on(c.RestrictPublicBuckets) {
			p = append(p, fmt.Sprintf("bucket %s: not all four Block Public Access settings are true", name))
		}
		owner := b.OwnershipControls != nil && len(b.OwnershipControls.Rules) == 1 &&
			b.OwnershipControls.Rules[0].ObjectOwnership != nil && *b.OwnershipControls.Rules[0].ObjectOwnership == "BucketOwnerEnforced"
		if !owner {
			p = append(p, fmt.Sprintf("bucket %s: object ownership is not BucketOwnerEnforced", name))
		}
	}
	return p
}

func checkTLSOnly(r rendered) []string {
	var p []string
	policies := r.GetAllS3BucketPolicyResources()
	for name := range r.GetAllS3BucketResources() {
		found := false
		for _, bp := range policies {
			if bp.Bucket != "Ref("+name+")" {
				continue
			}
			for _, st := range statements(bp.PolicyDocument) {
				cond, _ := st["Condition"].(map[string]any)
				boolCond, _ := cond["Bool"].(map[string]any)
				res := strs(st["Resource"])
				if st["Effect"] == "Deny" && st["Principal"] == "*" && slices.Contains(strs(st["Action"]), "s3:*") &&
					boolCond["aws:SecureTransport"] == "false" &&
					slices.Contains(res, "GetAtt("+name+".Arn)") && slices.Contains(res, "GetAtt("+name+".Arn)/*") {
					found = true
				}
			}
		}
		if !found {
			p = append(p, fmt.Sprintf("bucket %s: no policy denying s3:* on the bucket and its objects when aws:SecureTransport is false", name))
		}
	}
	return p
}

func checkLifecycle(r rendered) []string {
	var p []string
	for name, b := range r.GetAllS3BucketResources() {
		var glacier, abort bool
		if b.LifecycleConfiguration != nil {
			for _, rule := range b.LifecycleConfiguration.Rules {
				if rule.Status != "Enabled" {
					continue
				}
				for _, tr := range rule.Transitions {
					if tr.StorageClass == "GLACIER_IR" && tr.TransitionInDays != nil && *tr.TransitionInDays > 0 {
						glacier = true
					}
				}
				if a := rule.AbortIncompleteMultipartUpload; a != nil && a.DaysAfterInitiation > 0 && a.DaysAfterInitiation <= 7 &&
					(rule.Prefix == nil || *rule.Prefix == "") {
					abort = true
				}
			}
		}
		if !glacier {
			p = append(p, fmt.Sprintf("bucket %s: no enabled lifecycle transition to GLACIER_IR", name))
		}
		if !abort {
			p = append(p, fmt.Sprintf("bucket %s: no bucket-wide rule aborting incomplete multipart uploads within 7 days", name))
		}
	}
	return p
}

// policyDocs gathers every policy document in the template by owner.
func policyDocs(r rendered) map[string]any {
	docs := map[string]any{}
	for name, role := range r.GetAllIAMRoleResources() {
		for _, pol := range role.Policies {
			docs[name] = appendDoc(docs[name], pol.PolicyDocument)
		}
	}
	for name, bp := range r.GetAllS3BucketPolicyResources() {
		docs[name] = bp.PolicyDocument
	}
	for name, k := range r.GetAllKMSKeyResources() {
		docs[name] = k.KeyPolicy
	}
	for name, qp := range r.GetAllSQSQueueInlinePolicyResources() {
		docs[name] = qp.PolicyDocument
	}
	for name, tp := range r.GetAllSNSTopicInlinePolicyResources() {
		docs[name] = tp.PolicyDocument
	}
	return docs
}

func appendDoc(prev, doc any) any {
	if prev == nil {
		return doc
	}
	merged := map[string]any{"Statement": append(toList(prev.(map[string]any)["Statement"]), toList(doc.(map[string]any)["Statement"])...)}
	return merged
}

func checkIAMWildcards(r rendered) []string {
	var p []string
	for owner, doc := range policyDocs(r) {
		for i, st := range statements(doc) {
			sid, _ := st["Sid"].(string)
			key := owner + "/" + sid
			if _, ok := iamAllowList[key]; ok && sid != "" {
				continue
			}
			for _, a := range strs(st["Action"]) {
				if a == "*" || (st["Effect"] == "Allow" && strings.HasSuffix(a, ":*")) {
					p = append(p, fmt.Sprintf("%s statement %d (%q): wildcard action %q", owner, i, sid, a))
				}
			}
			for _, res := range strs(st["Resource"]) {
				if res == "*" {
					p = append(p, fmt.Sprintf("%s statement %d (%q): Resource \"*\"", owner, i, sid))
				}
			}
			if st["NotAction"] != nil || st["NotResource"] != nil {
				p = append(p, fmt.Sprintf("%s statement %d (%q): NotAction/NotResource", owner, i, sid))
			}
		}
	}
	return p
}

// checkTaskRoleScope checks what the fleet's roles may touch: the source
// tables by name, the control table, the stack's queues, the export prefix
// and the one key.
func checkTaskRoleScope(r rendered, params map[string]any) []string {
	var p []string
	prefix := "/" + fmt.Sprint(params["ExportPrefixRoot"]) + "/*"
	var tables []string
	for _, tb := range strings.Split(fmt.Sprint(params["SourceTableNames"]), ",") {
		tables = append(tables, "arn:aws:dynamodb:us-east-1:123456789012:table/"+tb)
	}
	roles := r.GetAllIAMRoleResources()
	for _, name := range []string{"WorkerTaskRole", "CoordinatorTaskRole"} {
		role, ok := roles[name]
		if !ok {
			p = append(p, name+" missing")
			continue
		}
		for _, pol := range role.Policies {
			for _, st := range statements(pol.PolicyDocument) {
				acts, res := strs(st["Action"]), strs(st["Resource"])
				for _, a := range acts {
					switch {
					case a == "dynamodb:Scan" || (a == "dynamodb:DescribeTable" && !slices.Contains(res, "GetAtt(ControlTable.Arn)")):
						if !slices.Equal(res, tables) {
							p = append(p, fmt.Sprintf("%s: %s on %v, want exactly the source tables %v", name, a, res, tables))
						}
					case strings.HasPrefix(a, "dynamodb:"):
						if !slices.Equal(res, []string{"GetAtt(ControlTable.Arn)"}) {
							p = append(p, fmt.Sprintf("%s: %s on %v, want only the control table", name, a, res))
						}
					case strings.HasPrefix(a, "sqs:"):
						for _, x := range res {
							if x != "GetAtt(WorkQueue.Arn)" && x != "GetAtt(DeadLetterQueue.Arn)" {
								p = append(p, fmt.Sprintf("%s: %s on %s, not one of the stack's queues", name, a, x))
							}
						}
					case a == "s3:ListBucket":
						cond, _ := st["Condition"].(map[string]any)
						p = append(p, checkListScope(name, cond, strings.TrimSuffix(strings.TrimPrefix(prefix, "/"), "*"))...)
					case strings.HasPrefix(a, "s3:"):
						for _, x := range res {
							if !strings.HasSuffix(x, prefix) {
								p = append(p, fmt.Sprintf("%s: %s on %s, outside the export prefix %s", name, a, x, prefix))
							}
						}
					case strings.HasPrefix(a, "kms:"):
						if !slices.Equal(res, []string{"GetAtt(DataKey.Arn)"}) && !(len(res) == 1 && strings.HasPrefix(res[0], "arn:aws:kms:")) {
							p = append(p, fmt.Sprintf("%s: %s on %v, want the one bucket key", name, a, res))
						}
					case strings.HasPrefix(a, "ecs:"):
						for _, x := range res {
							if !strings.Contains(x, ":task/Ref(Cluster)/") {
								p = append(p, fmt.Sprintf("%s: %s on %s, not this cluster's tasks", name, a, x))
							}
						}
					default:
						p = append(p, fmt.Sprintf("%s: unexpected action %s", name, a))
					}
				}
			}
		}
	}
	return p
}

// checkListScope asks a ListBucket grant's condition what it allows: only
// listings that name a prefix under root ("exports/"). A listing without a
// prefix lists the whole bucket, which an ...IfExists operator would let
// through.
func checkListScope(role string, cond map[string]any, root string) []string {
	var p []string
	for _, c := range []struct {
		prefix  *string
		allowed bool
	}{
		{nil, false},
		{ptr(""), false},
		{ptr(root + "orders/dt=2024-01-01/AWSDynamoDB/e1/data/"), true},
		{ptr(root + "orders/dt=2024-01-01/AWSDynamoDB/e1/"), true},
		{ptr("other/"), false},
		{ptr(strings.TrimSuffix(root, "/") + "-other/"), false},
	} {
		keys := map[string]string{}
		what := "no prefix (the whole bucket)"
		if c.prefix != nil {
			keys["s3:prefix"] = *c.prefix
			what = fmt.Sprintf("prefix %q", *c.prefix)
		}
		holds, err := conditionHolds(cond, keys)
		switch {
		case err != nil:
			p = append(p, fmt.Sprintf("%s: s3:ListBucket: %v", role, err))
		case holds != c.allowed:
			p = append(p, fmt.Sprintf("%s: s3:ListBucket not limited to the export prefix: a listing with %s is allowed=%v, want %v", role, what, holds, c.allowed))
		}
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func checkAutoscaling(r rendered) []string {
	var p []string
	targets := r.GetAllApplicationAutoScalingScalableTargetResources()
	tgt, ok := targets["WorkerScalableTarget"]
	if !ok {
		return []string{"WorkerScalableTarget missing"}
	}
	if tgt.ResourceId != "service/Ref(Cluster)/GetAtt(WorkerService.Name)" || tgt.ScalableDimension != "ecs:service:DesiredCount" || tgt.ServiceNamespace != "ecs" {
		p = append(p, fmt.Sprintf("scalable target points at %s %s", tgt.ResourceId, tgt.ScalableDimension))
	}
	if tgt.MinCapacity != 0 {
		p = append(p, fmt.Sprintf("default MinCapacity %d, want 0 (scale to zero)", tgt.MinCapacity))
	}
	var tracking, fromZero, toZero string
	for name, pol := range r.GetAllApplicationAutoScalingScalingPolicyResources() {
		if pol.ScalingTargetId == nil || *pol.ScalingTargetId != "Ref(WorkerScalableTarget)" {
			p = append(p, name+": not attached to WorkerScalableTarget")
		}
		switch {
		case pol.PolicyType == "TargetTrackingScaling":
			c := pol.TargetTrackingScalingPolicyConfiguration
			var visible, running, expr bool
			if c != nil && c.CustomizedMetricSpecification != nil {
				for _, m := range c.CustomizedMetricSpecification.Metrics {
					if m.MetricStat != nil && m.MetricStat.Metric != nil {
						mt := m.MetricStat.Metric
						dims := map[string]string{}
						for _, d := range mt.Dimensions {
							dims[deref(d.Name)] = deref(d.Value)
						}
						if deref(mt.MetricName) == "ApproximateNumberOfMessagesVisible" && dims["QueueName"] == "GetAtt(WorkQueue.QueueName)" {
							visible = true
						}
						if deref(mt.MetricName) == "RunningTaskCount" && dims["ClusterName"] == "Ref(Cluster)" && dims["ServiceName"] == "GetAtt(WorkerService.Name)" {
							running = true
						}
					}
					if m.Expression != nil && strings.Contains(*m.Expression, "/") && m.ReturnData != nil && *m.ReturnData {
						expr = true
					}
				}
			}
			if visible && running && expr {
				tracking = name
			} else {
				p = append(p, name+": target tracking is not visible messages / running tasks of this queue and service")
			}
		case pol.StepScalingPolicyConfiguration != nil && pol.StepScalingPolicyConfiguration.AdjustmentType == nil:
			p = append(p, name+": step policy without AdjustmentType")
		case pol.StepScalingPolicyConfiguration != nil && *pol.StepScalingPolicyConfiguration.AdjustmentType == "ChangeInCapacity":
			fromZero = name
		case pol.StepScalingPolicyConfiguration != nil && *pol.StepScalingPolicyConfiguration.AdjustmentType == "ExactCapacity":
			toZero = name
		}
	}
	if tracking == "" || fromZero == "" || toZero == "" {
		p = append(p, fmt.Sprintf("want target tracking, scale-from-zero and scale-to-zero policies; got %q %q %q", tracking, fromZero, toZero))
	}
	// Each step policy must be driven by an alarm on this queue.
	for _, pol := range []string{fromZero, toZero} {
		driven := false
		for _, a := range r.GetAllCloudWatchAlarmResources() {
			if slices.Contains(a.AlarmActions, "Ref("+pol+")") && alarmWatchesQueue(a.Metrics, "GetAtt(WorkQueue.QueueName)") {
				driven = true
			}
		}
		if pol != "" && !driven {
			p = append(p, pol+": no alarm on the work queue invokes it")
		}
	}
	return p
}

func checkAlarms(r rendered) []string {
	var p []string
	alarms := r.GetAllCloudWatchAlarmResources()
	topics := r.GetAllSNSTopicResources()
	for name, a := range alarms {
		for _, act := range append(slices.Clone(a.AlarmActions), a.OKActions...) {
			target := strings.TrimSuffix(strings.TrimPrefix(act, "Ref("), ")")
			_, isTopic := topics[target]
			_, isPolicy := r.GetAllApplicationAutoScalingScalingPolicyResources()[target]
			if !isTopic && !isPolicy {
				p = append(p, fmt.Sprintf("alarm %s: action %s is neither a topic nor a scaling policy of this stack", name, act))
			}
		}
	}
	dlq := false
	for _, a := range alarms {
		for _, d := range a.Dimensions {
			if d.Name == "QueueName" && d.Value == "GetAtt(DeadLetterQueue.QueueName)" && deref(a.MetricName) == "ApproximateNumberOfMessagesVisible" &&
				a.Threshold != nil && *a.Threshold == 0 && a.ComparisonOperator == "GreaterThanThreshold" && slices.Contains(a.AlarmActions, "Ref(AlarmTopic)") {
				dlq = true
			}
		}
	}
	if !dlq {
		p = append(p, "no alarm notifying when the dead-letter queue is not empty")
	}
	// Log-derived alarms: a metric filter with the product's log shape must
	// feed a metric that an alarm watches and reports.
	metricFor := func(pattern, logGroup string) string {
		for _, f := range r.GetAllLogsMetricFilterResources() {
			if strings.Contains(f.FilterPattern, pattern) && f.LogGroupName == logGroup && len(f.MetricTransformations) == 1 {
				return f.MetricTransformations[0].MetricNamespace + "/" + f.MetricTransformations[0].MetricName
			}
		}
		return ""
	}
	watched := func(metric string) bool {
		for _, a := range alarms {
			if metric != "" && deref(a.Namespace)+"/"+deref(a.MetricName) == metric && slices.Contains(a.AlarmActions, "Ref(AlarmTopic)") {
				return true
			}
		}
		return false
	}
	for _, lg := range []string{"Ref(WorkerLogGroup)", "Ref(CoordinatorLogGroup)"} {
		if m := metricFor(`$.msg = "export failed"`, lg); !watched(m) {
			p = append(p, fmt.Sprintf("no alarm on export-failed log lines of %s", lg))
		}
	}
	if m := metricFor(`$.level = "error"`, "Ref(WorkerLogGroup)"); !watched(m) {
		p = append(p, "no alarm on worker error log lines")
	}
	return p
}

func checkFleetState(r rendered) []string {
	var p []string
	tb, ok := r.GetAllDynamoDBTableResources()["ControlTable"]
	if !ok {
		return []string{"ControlTable missing"}
	}
	if deref(tb.BillingMode) != "PAY_PER_REQUEST" {
		p = append(p, "control table is not on-demand")
	}
	if tb.PointInTimeRecoverySpecification == nil || tb.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled == nil || !*tb.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled {
		p = append(p, "control table without PITR")
	}
	if tb.TimeToLiveSpecification == nil || !tb.TimeToLiveSpecification.Enabled || deref(tb.TimeToLiveSpecification.AttributeName) != "expiresAt" {
		p = append(p, "control table TTL is not on expiresAt")
	}
	if tb.DeletionProtectionEnabled == nil || !*tb.DeletionProtectionEnabled {
		p = append(p, "control table without deletion protection")
	}
	var keys []string
	for _, k := range tb.KeySchema {
		keys = append(keys, k.AttributeName+":"+k.KeyType)
	}
	if !slices.Equal(keys, []string{"pk:HASH", "sk:RANGE"}) {
		p = append(p, fmt.Sprintf("control table key schema %v, want pk/sk", keys))
	}
	q := r.GetAllSQSQueueResources()["WorkQueue"]
	if q == nil {
		return append(p, "WorkQueue missing")
	}
	rp, _ := q.RedrivePolicy.(map[string]any)
	if rp["deadLetterTargetArn"] != "GetAtt(DeadLetterQueue.Arn)" || rp["maxReceiveCount"] == nil {
		p = append(p, fmt.Sprintf("work queue redrive policy %v does not point at the DLQ", rp))
	}
	if dlq := r.GetAllSQSQueueResources()["DeadLetterQueue"]; dlq == nil || deref(dlq.QueueName) != deref(q.QueueName)+"-dlq" {
		p = append(p, "dead-letter queue is not named <queue>-dlq as the CLI expects")
	}
	for name, lg := range r.GetAllLogsLogGroupResources() {
		if lg.RetentionInDays == nil || *lg.RetentionInDays <= 0 {
			p = append(p, name+": no retention")
		}
	}
	return p
}

func checkWorkerTask(r rendered) []string {
	var p []string
	td, ok := r.GetAllECSTaskDefinitionResources()["WorkerTaskDefinition"]
	if !ok || len(td.ContainerDefinitions) != 1 {
		return []string{"WorkerTaskDefinition with one container missing"}
	}
	c := td.ContainerDefinitions[0]
	i := slices.Index(c.Command, "--drain-timeout")
	if i < 0 || i+1 >= len(c.Command) || c.Command[i+1] != "25s" {
		p = append(p, fmt.Sprintf("worker command %v does not set --drain-timeout 25s", c.Command))
	}
	if c.StopTimeout == nil || *c.StopTimeout != 30 {
		p = append(p, "worker stopTimeout is not 30s (drain 25s + exit)")
	}
	if deref(c.User) == "" || strings.HasPrefix(deref(c.User), "0") || deref(c.User) == "root" {
		p = append(p, "worker container runs as root")
	}
	svc, ok := r.GetAllECSServiceResources()["WorkerService"]
	if !ok || deref(svc.TaskDefinition) != "Ref(WorkerTaskDefinition)" || deref(svc.Cluster) != "Ref(Cluster)" {
		p = append(p, "worker service is not the worker task definition on the cluster")
	}
	return p
}

func TestTemplateProperties(t *testing.T) {
	forEachRendering(t, func(t *testing.T, r rendered) {
		for name, check := range map[string]func(rendered) []string{
			"encryption": checkEncryption, "bucket access": checkBucketAccess,
			"TLS only": checkTLSOnly, "object encryption": checkObjectEncryption, "lifecycle": checkLifecycle,
			"IAM wildcards": checkIAMWildcards, "autoscaling": checkAutoscaling,
			"alarms": checkAlarms, "fleet state": checkFleetState, "worker task": checkWorkerTask,
		} {
			for _, problem := range check(r) {
				t.Errorf("%s: %s", name, problem)
			}
		}
	})
}

func TestTaskRolesLeastPrivilege(t *testing.T) {
	for _, path := range templates(t) {
		for _, sc := range scenarios {
			t.Run(path+"/"+sc.name, func(t *testing.T) {
				r := render(t, path, sc)
				params := newResolver(t, rawTemplate(t, path), sc.params).params
				flat := map[string]any{}
				for k, v := range params {
					if l, ok := v.([]any); ok {
						var s []string
						for _, e := range l {
							s = append(s, fmt.Sprint(e))
						}
						flat[k] = strings.Join(s, ",")
					} else {
						flat[k] = v
					}
				}
				for _, problem := range checkTaskRoleScope(r, flat) {
					t.Error(problem)
				}
			})
		}
	}
}

// TestCreatedBucketIsChecked guards the checks themselves: with the
// default parameters there is a bucket, so the bucket checks are not
// vacuously passing.
func TestCreatedBucketIsChecked(t *testing.T) {
	r := render(t, "ddbfleet.yaml", scenarios[0])
	if len(r.GetAllS3BucketResources()) != 1 || len(r.GetAllS3BucketPolicyResources()) != 1 {
		t.Fatal("default parameters should create the bucket and its policy")
	}
	r = render(t, "ddbfleet.yaml", scenarios[2])
	if len(r.GetAllS3BucketResources()) != 0 {
		t.Fatal("CreateBucket=false must not create a bucket")
	}
}

// TestAllowListIsCurrent keeps the IAM exceptions honest: every entry must
// still match a statement, so a removed exception cannot linger as a
// blanket pass.
func TestAllowListIsCurrent(t *testing.T) {
	r := render(t, "ddbfleet.yaml", scenarios[0])
	seen := map[string]bool{}
	for owner, doc := range policyDocs(r) {
		for _, st := range statements(doc) {
			if sid, _ := st["Sid"].(string); sid != "" {
				seen[owner+"/"+sid] = true
			}
		}
	}
	for key := range iamAllowList {
		if !seen[key] {
			t.Errorf("allow-list entry %s matches no statement; remove it", key)
		}
	}
}

func statements(doc any) []map[string]any {
	m, _ := doc.(map[string]any)
	var out []map[string]any
	for _, s := range toList(m["Statement"]) {
		if st, ok := s.(map[string]any); ok {
			out = append(out, st)
		}
	}
	return out
}

func toList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func strs(v any) []string {
	var out []string
	for _, e := range toList(v) {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func alarmWatchesQueue(metrics []cloudwatch.Alarm_MetricDataQuery, queue string) bool {
	for _, m := range metrics {
		if m.MetricStat == nil || m.MetricStat.Metric == nil || deref(m.MetricStat.Metric.Namespace) != "AWS/SQS" {
			continue
		}
		for _, d := range m.MetricStat.Metric.Dimensions {
			if d.Name == "QueueName" && d.Value == queue {
				return true
			}
		}
	}
	return false
}
