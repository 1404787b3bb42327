# The targets a postmaster or a developer needs; `make help` lists them.
GO       ?= go
FUZZTIME ?= 60s
# Benchmarks that write files run where var_dir would be (the root file
# system), not in /tmp, which may be a tmpfs with no real fsync.
BENCHDIR ?= $(CURDIR)/.bench-tmp

.PHONY: build run test check bench fuzz clean help

build: ## build bin/mailmanctl
	$(GO) build -o bin/mailmanctl ./cmd/mailmanctl

run: build ## run the master and its runners in the foreground on the built-in defaults (var/ here)
	bin/mailmanctl start -f

test: ## run every test, with the race detector
	$(GO) test -race -count=1 ./...

check: ## formatting and vet
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: ## run the benchmarks (not part of make test)
	mkdir -p $(BENCHDIR)
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench . -benchtime 2000x ./switchboard
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench . -benchtime 200x ./runners
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench 'Lookup|ListByID' -benchtime 20000x ./store
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench AddMembers -benchtime 3x ./store
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench 'Start|Memory' -benchtime 20x ./test
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench MembersAdd -benchtime 3x ./test
	TMPDIR=$(BENCHDIR) $(GO) test -run '^$$' -bench Ingest -benchtime 3000x -count 3 ./test
	rm -rf $(BENCHDIR)

fuzz: ## run each fuzz target for FUZZTIME (default 60s)
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./switchboard
	$(GO) test -run '^$$' -fuzz '^FuzzJournalRecord$$' -fuzztime $(FUZZTIME) ./switchboard
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./config
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./message
	$(GO) test -run '^$$' -fuzz '^FuzzPrepare$$' -fuzztime $(FUZZTIME) ./runners/lmtp

clean: ## remove what the build made
	rm -rf bin $(BENCHDIR)

help:
	@grep -E '^[a-z]+:.*## ' Makefile | sed 's/:.*## /\t/'
