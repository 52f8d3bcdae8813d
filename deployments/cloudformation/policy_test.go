package cloudformation_test

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// A bucket policy's encryption statements are easy to get subtly wrong
// (an "...IfExists" that denies every PUT without headers, a missing Null
// check that lets aws:kms fall back to the aws/s3 key), and reading their
// shape does not show it. checkObjectEncryption instead asks the policy,
// as IAM would, what it answers to the requests that matter.

// s3Request is what a bucket policy's conditions see of one request.
type s3Request struct {
	name   string
	keys   map[string]string // condition keys present in the request
	denied bool              // what the stack's policy must answer
}

// objectPutRequests are PutObject requests (UploadPart and
// CompleteMultipartUpload are authorised as PutObject too) against a
// bucket whose default encryption is SSE-KMS with key.
func objectPutRequests(key string) []s3Request {
	const (
		sse   = "s3:x-amz-server-side-encryption"
		keyID = "s3:x-amz-server-side-encryption-aws-kms-key-id"
		sseC  = "s3:x-amz-server-side-encryption-customer-algorithm"
	)
	return []s3Request{
		{"no SSE headers (default encryption; every UploadPart)", map[string]string{}, false},
		{"aws:kms naming the bucket's key", map[string]string{sse: "aws:kms", keyID: key}, false},
		{"aws:kms naming no key (S3 would use aws/s3)", map[string]string{sse: "aws:kms"}, true},
		{"aws:kms naming another key", map[string]string{sse: "aws:kms", keyID: "arn:aws:kms:us-east-1:123456789012:key/other"}, true},
		{"AES256", map[string]string{sse: "AES256"}, true},
		{"aws:kms:dsse naming the bucket's key", map[string]string{sse: "aws:kms:dsse", keyID: key}, true},
		{"a customer-provided key (SSE-C)", map[string]string{sseC: "AES256"}, true},
		{"no SSE headers over plain HTTP", map[string]string{"aws:SecureTransport": "false"}, true},
	}
}

func checkObjectEncryption(r rendered) []string {
	var p []string
	policies := r.GetAllS3BucketPolicyResources()
	for name, b := range r.GetAllS3BucketResources() {
		key := ""
		if b.BucketEncryption != nil && len(b.BucketEncryption.ServerSideEncryptionConfiguration) > 0 {
			if d := b.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault; d != nil {
				key = deref(d.KMSMasterKeyID)
			}
		}
		var sts []map[string]any
		for _, bp := range policies {
			if bp.Bucket == "Ref("+name+")" {
				sts = append(sts, statements(bp.PolicyDocument)...)
			}
		}
		object := "GetAtt(" + name + ".Arn)/exports/t/AWSDynamoDB/e/data/s000000-000000-a1.json.gz"
		for _, req := range objectPutRequests(key) {
			keys := map[string]string{"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
			for k, v := range req.keys {
				keys[k] = v
			}
			sid, denied, err := deniedBy(sts, "s3:PutObject", object, keys)
			switch {
			case err != nil:
				p = append(p, fmt.Sprintf("bucket %s: %v", name, err))
			case denied && !req.denied:
				p = append(p, fmt.Sprintf("bucket %s: PutObject with %s is denied (by %q) but must pass", name, req.name, sid))
			case !denied && req.denied:
				p = append(p, fmt.Sprintf("bucket %s: PutObject with %s is not denied", name, req.name))
			}
		}
	}
	return p
}

// deniedBy reports whether a Deny statement of sts matches the request,
// and which. Only what the stack's policies use is understood; anything
// else is an error, so a new operator cannot pass unexamined.
func deniedBy(sts []map[string]any, action, resource string, keys map[string]string) (string, bool, error) {
	for _, st := range sts {
		if st["Effect"] != "Deny" || st["Principal"] != "*" {
			continue
		}
		if !slices.ContainsFunc(strs(st["Action"]), func(a string) bool { return glob(a, action) }) ||
			!slices.ContainsFunc(strs(st["Resource"]), func(r string) bool { return glob(r, resource) }) {
			continue
		}
		cond, _ := st["Condition"].(map[string]any)
		match, err := conditionHolds(cond, keys)
		if err != nil {
			return "", false, fmt.Errorf("statement %v: %w", st["Sid"], err)
		}
		if match {
			sid, _ := st["Sid"].(string)
			return sid, true, nil
		}
	}
	return "", false, nil
}

// conditionHolds evaluates a Condition block as IAM does: every operator,
// and every key under it, must hold; a key with several values holds if
// any matches (none, for a negated operator). A key absent from the
// request makes a positive operator false and a negated one true, and
// ...IfExists true either way; Null tests presence alone.
func conditionHolds(cond map[string]any, keys map[string]string) (bool, error) {
	for op, arg := range cond {
		m, ok := arg.(map[string]any)
		if !ok {
			return false, fmt.Errorf("condition %s is not a map", op)
		}
		base, ifExists := strings.CutSuffix(op, "IfExists")
		for k, want := range m {
			got, present := keys[k]
			var holds bool
			switch {
			case base == "Null":
				if ifExists {
					return false, fmt.Errorf("NullIfExists does not exist")
				}
				holds = fmt.Sprint(want) == strconv.FormatBool(!present)
			case !present:
				holds = ifExists || strings.Contains(base, "Not")
			default:
				var err error
				if holds, err = compare(base, got, strs(want)); err != nil {
					return false, err
				}
			}
			if !holds {
				return false, nil
			}
		}
	}
	return true, nil
}

func compare(op, got string, want []string) (bool, error) {
	anyOf := func(f func(w string) bool) bool { return slices.ContainsFunc(want, f) }
	switch op {
	case "StringEquals", "Bool":
		return anyOf(func(w string) bool { return w == got }), nil
	case "StringNotEquals":
		return !anyOf(func(w string) bool { return w == got }), nil
	case "StringLike":
		return anyOf(func(w string) bool { return glob(w, got) }), nil
	case "StringNotLike":
		return !anyOf(func(w string) bool { return glob(w, got) }), nil
	case "NumericLessThan":
		g, err := strconv.ParseFloat(got, 64)
		if err != nil {
			return false, err
		}
		return anyOf(func(w string) bool { f, err := strconv.ParseFloat(w, 64); return err == nil && g < f }), nil
	}
	return false, fmt.Errorf("condition operator %s is not understood by the policy checks; teach conditionHolds", op)
}

// glob matches IAM's wildcards: * any run of characters (slashes
// included), ? one character.
func glob(pattern, s string) bool {
	// path.Match's * stops at "/"; IAM's does not, so match with the
	// slashes swapped for a character neither side uses.
	const sep = "\x00"
	ok, err := path.Match(strings.ReplaceAll(pattern, "/", sep), strings.ReplaceAll(s, "/", sep))
	return err == nil && ok
}
