# Container image and CloudFormation targets, included by the main Makefile
# (which defines `build`). Paths are relative to the repository root.

IMAGE_TAR      ?= bin/ddbfleet-image.tar
IMAGE_NAME     ?= ddbfleet:latest
IMAGE_VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
CFN_TEMPLATES  := $(wildcard deployments/cloudformation/*.yaml)

.PHONY: image lint-cfn

image: build ## Build the container image as an OCI archive (bin/ddbfleet-image.tar) without Docker
	go run ./deployments/imagebuild \
		-coordinator bin/coordinator -worker bin/worker \
		-ca-certs /etc/ssl/certs/ca-certificates.crt \
		-out $(IMAGE_TAR) -name $(IMAGE_NAME) \
		-version "$(IMAGE_VERSION)" -revision "$(IMAGE_REVISION)"

lint-cfn: ## Lint every CloudFormation template with cfn-lint (no errors allowed)
	@command -v cfn-lint >/dev/null 2>&1 || pip install cfn-lint
	cfn-lint $(CFN_TEMPLATES)
