# The Go sample's make flow, on SAM. `make` validates, builds and deploys.
# Tools come from .venv (scripts/test installs them) when it exists.
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export SAM_CLI_TELEMETRY ?= 0

STACK   ?= sns-to-slack
SUBJECT ?= sns-to-slack test
MESSAGE ?= hello from sns-to-slack

output = $(shell aws cloudformation describe-stacks --stack-name $(STACK) \
	--query "Stacks[0].Outputs[?OutputKey=='$(1)'].OutputValue" --output text)

.PHONY: all validate build package deploy deploy-guided publish-to-topic logs redrive test

all: validate build deploy

validate:
	cfn-lint template.yml
	sam validate --lint

build:
	rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	sam build

# Uploads the built function and writes packaged.yml (sam deploy does this itself).
package: build
	sam package --resolve-s3 --output-template-file packaged.yml

deploy: build
	sam deploy --stack-name $(STACK)

# First deploy: asks for every parameter (the webhook URL is masked).
deploy-guided: build
	sam deploy --guided --stack-name $(STACK)

publish-to-topic:
	aws sns publish --topic-arn "$(call output,TopicArn)" --subject "$(SUBJECT)" --message "$(MESSAGE)"

logs:
	sam logs --stack-name $(STACK) --name Function --tail

redrive:
	cargo run --release -- redrive --queue-url "$(call output,DeadLetterQueueUrl)"

test:
	scripts/test
