# paperflow — `make run` does the main job on embedded defaults; `make test` runs every test.
GO        ?= go
BIN       := bin
# A block is a folder of plugins/ with a main package; the others (sdk, proto,
# websend, ratelimit, internal) are libraries.
BLOCKS    := $(patsubst plugins/%/main.go,%,$(wildcard plugins/*/main.go))
# Every Go module of the repository: the host and built-in blocks (.), the
# block protocol and SDK that third-party blocks import, and the example
# block, which builds against the SDK module alone.
MODULES   := . plugins/proto plugins/sdk examples/block-plugin
VERSION   ?= $(shell git describe --tags --match 'v[0-9]*' --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)

.PHONY: all build run test test-short bench bench-peers vet fmt clean proto

all: build

build: ## build bin/paperflow and every block under bin/plugins/
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/paperflow ./host/cmd/paperflow
	@for b in $(BLOCKS); do echo "block $$b"; $(GO) build -ldflags '-s -w' -o $(BIN)/plugins/$$b ./plugins/$$b || exit 1; done
	cd examples/block-plugin && $(GO) build -ldflags '-s -w' -o $(CURDIR)/$(BIN)/plugins/derive .

run: build ## run the demo workflows on embedded NATS; mail goes to paperflow-data/outbox
	$(BIN)/paperflow validate workflows/*.yaml
	$(BIN)/paperflow run workflows/hello.yaml
	$(BIN)/paperflow run workflows/invoices.yaml
	$(BIN)/paperflow run workflows/email.yaml
	$(BIN)/paperflow outbox
	$(BIN)/paperflow run workflows/signature.yaml
	$(BIN)/paperflow signatures links
	@echo "To sign: run '$(BIN)/paperflow serve workflows/signature.yaml' and open a link above (order 1 first)."

test: vet ## run every test of every module (builds the blocks it needs itself)
	@fail=0; for m in $(MODULES); do echo "test $$m"; (cd $$m && $(GO) test -count=1 -timeout 20m ./...) || fail=1; done; exit $$fail

test-short:
	@fail=0; for m in $(MODULES); do (cd $$m && $(GO) test -short -count=1 ./...) || fail=1; done; exit $$fail

bench: build ## print throughput figures as ratios against in-process baselines
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 1 ./host/events/ github.com/paperflow/paperflow/plugins/sdk/tags ./host/workflow/ ./plugins/csv/ ./plugins/json/ ./host/mail/ ./plugins/template/ ./plugins/signature/ ./plugins/signature/pdfsign/
	$(GO) test -run '^$$' -bench Delivery -benchtime 20000x -count 1 ./host/delivery/
	$(GO) test -run '^$$' -bench Console -benchtime 200x -count 1 ./host/console/
	PAPERFLOW_BENCH=1 $(GO) test -count=1 -run '^TestBenchRatios$$' -v ./plugins/template/
	$(GO) run ./host/cmd/pfbench -plugins $(BIN)/plugins
	PAPERFLOW_BENCH=1 $(GO) test -count=1 -run '^TestItemsBench$$' -v ./host/server/

# Peers, installed with npm into .cache/peers (never committed); the
# versions are pinned here and printed beside the figures.
PEERS     := .cache/peers
PEER_PKGS := @myriaddreamin/typst-ts-node-compiler@0.7.0 pdf-lib@1.17.1 @pdf-lib/fontkit@1.1.1 docxtemplater@3.71.1 pizzip@3.3.0
BENTHOS_VERSION := v4.27.0

bench-peers: ## paperflow beside other tools making the same documents (needs node and npm)
	@mkdir -p $(PEERS) && test -f $(PEERS)/package.json || echo '{"private": true}' > $(PEERS)/package.json
	cd $(PEERS) && npm install --no-audit --no-fund --silent $(PEER_PKGS)
	# documents: letter beside typst, form beside pdf-lib, .docx beside docxtemplater
	PAPERFLOW_PEERS=$(CURDIR)/$(PEERS)/node_modules $(GO) test -count=1 -run '^TestPeers$$' -v ./plugins/template/
	# pipeline beside Benthos $(BENTHOS_VERSION), built from a module of its io and pure components only
	$(GO) build -ldflags '-s -w' -o $(BIN)/plugins/noop ./plugins/noop
	$(GO) build -ldflags '-s -w' -o $(BIN)/plugins/csv ./plugins/csv
	$(GO) build -ldflags '-s -w' -o $(BIN)/plugins/webhook ./plugins/webhook
	sh host/cmd/pfbench/peers/benthos-build.sh $(CURDIR)/.cache/benthos $(BENTHOS_VERSION)
	$(GO) run ./host/cmd/pfbench -plugins $(BIN)/plugins -benthos $(CURDIR)/.cache/benthos/benthos

.PHONY: soak
soak: build ## host memory under load (short forms; see go run ./host/cmd/pfsoak -h)
	$(GO) run ./host/cmd/pfsoak -bin $(BIN) -items 20000
	$(GO) run ./host/cmd/pfsoak -bin $(BIN) -duration 2m -rate 100

vet: ## go vet every module, gofmt, and the SDK's line: nothing under host/ reachable from it
	@for m in $(MODULES); do echo "vet $$m"; (cd $$m && $(GO) vet ./...) || exit 1; done
	@test -z "$$(gofmt -l host plugins schemas examples)" || (gofmt -l host plugins schemas examples; exit 1)
	@! (cd plugins/sdk && $(GO) list -deps -test ./...) | grep '^github.com/paperflow/paperflow/host' || (echo "plugins/sdk reaches host/ packages"; exit 1)

proto: ## regenerate plugins/proto (needs protoc, protoc-gen-go, protoc-gen-go-grpc)
	cd plugins/proto && protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative block/v1/block.proto

clean:
	rm -rf $(BIN) paperflow-data
