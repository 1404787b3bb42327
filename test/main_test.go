package test

import (
	"os"
	"testing"

	"github.com/mailman-go/mailman/internal/mailmantest"
	"github.com/mailman-go/mailman/internal/pgtest"
)

// cluster is the private PostgreSQL cluster of the tests that need one;
// nil where PostgreSQL is not installed (pgtest.Need skips them).
var cluster *pgtest.Cluster

func TestMain(m *testing.M) {
	os.Exit(mailmantest.MainFunc(func() int { return pgtest.Main(m, pgtest.Options{}, &cluster) }))
}
