package cloudformation_test

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
)

// s3Grants is every S3 action the task roles are granted, by role and
// statement, each for a use of the code (the README's table in section 10
// gives the use). It was drawn up from the calls the binaries make:
//
//   - worker: segexport streams part files (objstore.Create: PutObject, or
//     a multipart upload whose failure is aborted) and deletes a part whose
//     commit was rejected; segrestore opens one data file (objstore.Open,
//     GET If-Match); lifecycle.Settle's finalize lists data/, deletes
//     orphans and puts the manifests; the rescuer's lifecycle.Start puts
//     _started, and as a cancelled export's steward its Rescue lists and
//     deletes what is left under data/.
//   - coordinator: the same lifecycle calls, plus cancel (list, delete,
//     put _cancelled), verify and restore (list, get, head), serve (get).
//     It only ever writes with one PutObject.
//
// A change to either side must change this table and the README.
var s3Grants = map[string]map[string][]string{
	"WorkerTaskRole": {
		"ListExportPrefix":          {"s3:ListBucket"},
		"WriteExportFiles":          {"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject"},
		"ReadExportFilesForRestore": {"s3:GetObject"},
	},
	"CoordinatorTaskRole": {
		"ListExportPrefix": {"s3:ListBucket"},
		"WriteExportFiles": {"s3:DeleteObject", "s3:PutObject"},
		"ReadExportFiles":  {"s3:GetObject"},
	},
}

// checkS3Grants reports S3 actions granted beyond s3Grants, or missing.
func checkS3Grants(r rendered) []string {
	var p []string
	roles := r.GetAllIAMRoleResources()
	for _, name := range sortedKeys(s3Grants) {
		role, ok := roles[name]
		if !ok {
			p = append(p, name+" missing")
			continue
		}
		got := map[string][]string{}
		for _, pol := range role.Policies {
			for _, st := range statements(pol.PolicyDocument) {
				sid, _ := st["Sid"].(string)
				for _, a := range strs(st["Action"]) {
					if strings.HasPrefix(a, "s3:") {
						got[sid] = append(got[sid], a)
					}
				}
			}
		}
		want := s3Grants[name]
		for _, sid := range sortedKeys(got) {
			acts := slices.Sorted(slices.Values(got[sid]))
			if w, ok := want[sid]; !ok || !slices.Equal(acts, w) {
				p = append(p, fmt.Sprintf("%s statement %q grants %v; s3Grants says %v", name, sid, acts, w))
			}
		}
		for _, sid := range sortedKeys(want) {
			if _, ok := got[sid]; !ok {
				p = append(p, fmt.Sprintf("%s has no statement %q granting %v", name, sid, want[sid]))
			}
		}
	}
	return p
}

func TestS3GrantsAreTheUsedOnes(t *testing.T) {
	forEachRendering(t, func(t *testing.T, r rendered) {
		for _, problem := range checkS3Grants(r) {
			t.Error(problem)
		}
	})
}

// TestREADMEExplainsEveryS3Grant: the README's IAM table has a row for
// every (role, statement, action) of s3Grants, and no other row.
func TestREADMEExplainsEveryS3Grant(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) == 6 && strings.HasPrefix(strings.TrimSpace(cells[3]), "`s3:") {
			rows = append(rows, strings.Join([]string{cell(cells[1]), cell(cells[2]), cell(cells[3])}, " "))
		}
	}
	var want []string
	for role, sts := range s3Grants {
		for sid, acts := range sts {
			for _, a := range acts {
				want = append(want, role+" "+sid+" "+a)
			}
		}
	}
	sort.Strings(rows)
	sort.Strings(want)
	if !slices.Equal(rows, want) {
		t.Errorf("README rows (role statement action):\n  %s\nwant, from s3Grants:\n  %s", strings.Join(rows, "\n  "), strings.Join(want, "\n  "))
	}
	for _, row := range rows {
		if strings.Count(row, " ") != 2 {
			t.Errorf("README row %q: want one role, one statement, one action", row)
		}
	}
}

func cell(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
