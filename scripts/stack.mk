# scripts/stack.mk — make targets for the local AWS stand-ins (DynamoDB Local,
# fauxqs, versitygw). Included by the main Makefile: `include scripts/stack.mk`.
# All the logic lives in scripts/stack.sh so it also works without make.

STACK_DIR ?= $(CURDIR)/.stack
STACK_SH  := $(dir $(lastword $(MAKEFILE_LIST)))stack.sh

.PHONY: stack-install stack-up stack-down stack-status

stack-install: ## Download and cache DynamoDB Local, fauxqs and versitygw (and Java 17 if missing)
	@bash $(STACK_SH) install

stack-up: ## Start the local AWS stand-ins on free ports and write the env file to source
	@bash $(STACK_SH) up "$(STACK_DIR)"

stack-down: ## Stop the local AWS stand-ins started by stack-up
	@bash $(STACK_SH) down "$(STACK_DIR)"

stack-status: ## Show whether each local AWS stand-in is up, with its port
	@bash $(STACK_SH) status "$(STACK_DIR)"
