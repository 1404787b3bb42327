# The targets a postmaster or a developer needs; `make help` lists them.
GO       ?= go
# Fuzzing runs a number of executions per target, about 8 s each at
# FUZZX=1, rather than a duration (see internal/cmd/mailman-reliability).
FUZZX ?= 1
MAILMAN ?= auto
# Benchmarks that write files run where var_dir would be (the root file
# system), not in /tmp, which may be a tmpfs with no real fsync.
BENCHDIR ?= $(CURDIR)/.bench-tmp
# What `mailmanctl version` says: the checkout's git describe.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/mailman-go/mailman/internal/version.release=$(VERSION)

# staticcheck, at a fixed version, from the module proxy.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test test-short test-postfix test-exim exim check bench bench-rest microbench fuzz reliability clean help

build: ## build bin/mailmanctl
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/mailmanctl ./cmd/mailmanctl

# As root, a trial run stays root (--run-as-root); a real site names a
# service user in [mailman] run_as_user instead (see README.md).
RUN_AS_ROOT := $(if $(filter 0,$(shell id -u)),--run-as-root)

run: build ## run the master and its runners in the foreground on the built-in defaults (var/ here)
	bin/mailmanctl $(RUN_AS_ROOT) start -f

test: ## run every test (the unit tier and the end-to-end, fault, crash and load tests), with the race detector, in random order
	$(GO) test -race -count=1 -shuffle=on ./...

test-short: ## the unit tier alone, well under a minute: no binary, no PostgreSQL, no end-to-end test
	$(GO) test -short -count=1 -shuffle=on ./...

test-postfix: ## the end-to-end test with a real Postfix in front (needs Debian's postfix and swaks, and root)
	$(GO) test -race -count=1 -run 'TestPostfix' -v ./test ./mta

exim: ## unpack Debian's Exim into .exim/root for the Exim test (apt-get download and dpkg-deb -x, as root; nothing installed)
	.ci/get-exim

test-exim: exim ## the end-to-end test with a private Exim in front (as root), set up as docs/exim.md says
	$(GO) test -race -count=1 -run 'TestExim|TestShareMaps' -v ./test ./mta

check: ## formatting, vet and staticcheck
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

bench: build ## the benchmark suite: this project beside Mailman 3.3.8 (Debian's mailman3, installed when run as root; MAILMAN=off skips it) and the machine's limits; rewrites the table in docs/benchmarks.md
	mkdir -p $(BENCHDIR)
	$(GO) run ./internal/cmd/mailman-bench -bin bin/mailmanctl -dir $(BENCHDIR) -mailman $(MAILMAN) -out docs/benchmarks.md
	rm -rf $(BENCHDIR)

bench-rest: build ## the REST API's figures alone (a 100,000-member roster, 20 clients), beside Mailman 3.3.8's; rewrites that table in docs/benchmarks.md (Mailman takes some 25 minutes to add the members, once)
	mkdir -p $(BENCHDIR)
	$(GO) run ./internal/cmd/mailman-bench -bin bin/mailmanctl -dir $(BENCHDIR) -mailman $(MAILMAN) -suite rest -out docs/benchmarks.md
	rm -rf $(BENCHDIR)

microbench: ## the go test benchmarks of each part (switchboard, store, runners, commands, the binary)
	mkdir -p $(BENCHDIR)
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench . -benchtime 2000x ./switchboard
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench . -benchtime 200x ./runners
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench JoinConfirm -benchtime 300x ./runners/command
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench ParseFolded ./runners/lmtp
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench 'Lookup|ListByID' -benchtime 20000x ./store
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench Build -benchtime 200x ./digest
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench FanOut -benchtime 20x ./runners/outgoing
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench Import21 -benchtime 1x ./migrate
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench AddMembers -benchtime 3x ./store
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench 'Start|Memory' -benchtime 20x ./test
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench MembersAdd -benchtime 3x ./test
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench Ingest -benchtime 3000x -count 3 ./test
	rm -rf $(BENCHDIR)

fuzz: ## run each fuzz target for a number of executions (about 8 s each; FUZZX=8 for about a minute); the targets are listed in internal/cmd/mailman-reliability
	$(GO) run ./internal/cmd/mailman-reliability fuzz -x $(FUZZX)

reliability: ## the whole test suite with the fault, crash and load figures, and every fuzz target; rewrites the tables in docs/reliability.md
	$(GO) run ./internal/cmd/mailman-reliability report -x $(FUZZX) -out docs/reliability.md

clean: ## remove what the build made
	rm -rf bin $(BENCHDIR)

help:
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'
