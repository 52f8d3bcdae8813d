// Package cloudformation holds the CloudFormation templates that deploy
// ddbfleet on AWS (ddbfleet.yaml) and, in its tests, the checks that keep
// them honest: every template is parsed with goformation and its security,
// scaling and wiring properties are asserted as code, and the container
// commands are checked against the flags of the real binaries.
//
// The package has no non-test code; the product never imports it.
package cloudformation
