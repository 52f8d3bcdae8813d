package cloudformation_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/iam"
)

// TestChecksCatchRemovedSafeguards removes one safeguard at a time from
// the rendered template, in memory, and requires the matching check to
// report it: the checks above can fail.
func TestChecksCatchRemovedSafeguards(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(r rendered)
		check   func(r rendered) []string
		want    string
	}{
		{"bucket encryption removed", func(r rendered) {
			r.GetAllS3BucketResources()["ExportBucket"].BucketEncryption = nil
		}, checkEncryption, "SSE-KMS"},
		{"bucket key off", func(r rendered) {
			f := false
			r.GetAllS3BucketResources()["ExportBucket"].BucketEncryption.ServerSideEncryptionConfiguration[0].BucketKeyEnabled = &f
		}, checkEncryption, "Bucket Keys"},
		{"control table SSE off", func(r rendered) {
			r.GetAllDynamoDBTableResources()["ControlTable"].SSESpecification.SSEEnabled = false
		}, checkEncryption, "SSEEnabled"},
		{"queue SSE off", func(r rendered) {
			r.GetAllSQSQueueResources()["DeadLetterQueue"].SqsManagedSseEnabled = nil
		}, checkEncryption, "queue DeadLetterQueue"},
		{"one BPA setting false", func(r rendered) {
			f := false
			r.GetAllS3BucketResources()["ExportBucket"].PublicAccessBlockConfiguration.RestrictPublicBuckets = &f
		}, checkBucketAccess, "Block Public Access"},
		{"TLS-only deny removed", func(r rendered) {
			bp := r.GetAllS3BucketPolicyResources()["ExportBucketPolicy"]
			doc := bp.PolicyDocument.(map[string]any)
			var kept []any
			for _, st := range doc["Statement"].([]any) {
				if st.(map[string]any)["Sid"] != "DenyInsecureTransport" {
					kept = append(kept, st)
				}
			}
			doc["Statement"] = kept
		}, checkTLSOnly, "SecureTransport"},
		{"aws:kms without a key id allowed", func(r rendered) {
			dropStatement(r, "ExportBucketPolicy", "DenyKmsWithoutKey")
		}, checkObjectEncryption, "aws:kms naming no key (S3 would use aws/s3) is not denied"},
		{"key-id Null check inverted", func(r rendered) {
			st := statementBySid(r, "ExportBucketPolicy", "DenyKmsWithoutKey")
			st["Condition"].(map[string]any)["Null"] = map[string]any{"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"}
		}, checkObjectEncryption, "aws:kms naming no key (S3 would use aws/s3) is not denied"},
		{"encryption deny with IfExists", func(r rendered) {
			// The statement as it once was: an absent header makes
			// ...IfExists true, so a PUT relying on default encryption is
			// refused.
			st := statementBySid(r, "ExportBucketPolicy", "DenyOtherEncryption")
			st["Condition"] = map[string]any{"StringNotEqualsIfExists": map[string]any{"s3:x-amz-server-side-encryption": "aws:kms"}}
		}, checkObjectEncryption, "no SSE headers (default encryption; every UploadPart) is denied"},
		{"another KMS key allowed", func(r rendered) {
			dropStatement(r, "ExportBucketPolicy", "DenyOtherKmsKey")
		}, checkObjectEncryption, "aws:kms naming another key is not denied"},
		{"lifecycle removed", func(r rendered) {
			r.GetAllS3BucketResources()["ExportBucket"].LifecycleConfiguration = nil
		}, checkLifecycle, "GLACIER_IR"},
		{"worker role gets Resource *", func(r rendered) {
			role := r.GetAllIAMRoleResources()["WorkerTaskRole"]
			role.Policies = append(role.Policies, iam.Role_Policy{PolicyName: "oops", PolicyDocument: map[string]any{
				"Statement": []any{map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}},
			}})
		}, checkIAMWildcards, `Resource "*"`},
		{"worker may write the whole bucket", func(r rendered) {
			role := r.GetAllIAMRoleResources()["WorkerTaskRole"]
			role.Policies = append(role.Policies, iam.Role_Policy{PolicyName: "oops", PolicyDocument: map[string]any{
				"Statement": []any{map[string]any{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "GetAtt(ExportBucket.Arn)/*"}},
			}})
		}, func(r rendered) []string {
			return checkTaskRoleScope(r, map[string]any{"ExportPrefixRoot": "exports", "SourceTableNames": "orders,customers"})
		}, "outside the export prefix"},
		{"coordinator may list the whole bucket", func(r rendered) {
			// What the coordinator once had, for HeadBucket: a listing that
			// names no prefix passes ...IfExists.
			st := statementBySid(r, "CoordinatorTaskRole", "ListExportPrefix")
			st["Condition"] = map[string]any{"StringLikeIfExists": map[string]any{"s3:prefix": "exports/*"}}
		}, func(r rendered) []string {
			return checkTaskRoleScope(r, map[string]any{"ExportPrefixRoot": "exports", "SourceTableNames": "orders,customers"})
		}, "CoordinatorTaskRole: s3:ListBucket not limited to the export prefix: a listing with no prefix (the whole bucket) is allowed=true"},
		{"worker listing without a condition", func(r rendered) {
			delete(statementBySid(r, "WorkerTaskRole", "ListExportPrefix"), "Condition")
		}, func(r rendered) []string {
			return checkTaskRoleScope(r, map[string]any{"ExportPrefixRoot": "exports", "SourceTableNames": "orders,customers"})
		}, `WorkerTaskRole: s3:ListBucket not limited to the export prefix: a listing with prefix "other/" is allowed=true`},
		{"scaling policy detached", func(r rendered) {
			s := "Ref(SomethingElse)"
			r.GetAllApplicationAutoScalingScalingPolicyResources()["ScaleFromZeroPolicy"].ScalingTargetId = &s
		}, checkAutoscaling, "not attached"},
		{"DLQ alarm watches the wrong queue", func(r rendered) {
			r.GetAllCloudWatchAlarmResources()["DeadLetterQueueNotEmptyAlarm"].Dimensions[0].Value = "GetAtt(WorkQueue.QueueName)"
		}, checkAlarms, "dead-letter queue"},
		{"stop timeout shorter than drain", func(r rendered) {
			n := 10
			r.GetAllECSTaskDefinitionResources()["WorkerTaskDefinition"].ContainerDefinitions[0].StopTimeout = &n
		}, checkWorkerTask, "stopTimeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := render(t, "ddbfleet.yaml", scenarios[0])
			if p := c.check(r); len(p) != 0 {
				t.Fatalf("intact template already fails: %v", p)
			}
			c.breakIt(r)
			p := c.check(r)
			if !strings.Contains(strings.Join(p, "\n"), c.want) {
				t.Fatalf("check did not report %q after the change; got %v", c.want, p)
			}
		})
	}
}

// statementBySid returns the statement of owner's policy named sid, for
// a test to change in place.
func statementBySid(r rendered, owner, sid string) map[string]any {
	for _, st := range statements(policyDocs(r)[owner]) {
		if st["Sid"] == sid {
			return st
		}
	}
	panic(fmt.Sprintf("%s has no statement %s", owner, sid))
}

// dropStatement removes the statement named sid from a bucket policy.
func dropStatement(r rendered, policy, sid string) {
	doc := r.GetAllS3BucketPolicyResources()[policy].PolicyDocument.(map[string]any)
	var kept []any
	for _, st := range doc["Statement"].([]any) {
		if st.(map[string]any)["Sid"] != sid {
			kept = append(kept, st)
		}
	}
	doc["Statement"] = kept
}

func TestRefCheckCatchesDanglingReference(t *testing.T) {
	raw := rawTemplate(t, "ddbfleet.yaml")
	raw["Resources"].(map[string]any)["WorkQueue"].(map[string]any)["Properties"].(map[string]any)["QueueName"] = map[string]any{"Ref": "NoSuchParam"}
	raw["Resources"].(map[string]any)["Cluster"].(map[string]any)["Properties"].(map[string]any)["ClusterName"] = map[string]any{"Fn::Sub": "${Missing.Attr}-x"}
	p := strings.Join(checkReferences(raw), "\n")
	for _, want := range []string{"NoSuchParam", "Missing"} {
		if !strings.Contains(p, want) {
			t.Errorf("dangling %s not reported; got:\n%s", want, p)
		}
	}
}

func TestParameterCheckCatchesUnconstrained(t *testing.T) {
	raw := rawTemplate(t, "ddbfleet.yaml")
	params := raw["Parameters"].(map[string]any)
	q := params["QueueName"].(map[string]any)
	delete(q, "AllowedPattern")
	delete(params["WorkerCpu"].(map[string]any), "Description")
	p := strings.Join(checkParameters(raw), "\n")
	for _, want := range []string{"QueueName", "WorkerCpu"} {
		if !strings.Contains(p, want) {
			t.Errorf("%s not reported; got:\n%s", want, p)
		}
	}
}
