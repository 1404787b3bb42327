package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var cluster *Cluster

func TestMain(m *testing.M) { os.Exit(Main(m, Options{}, &cluster)) }

// Each database is new and empty, reachable at its URL, and the server
// can be stopped and started again under it.
func TestClusterDatabases(t *testing.T) {
	Need(t, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b := cluster.NewDatabase(t), cluster.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases at one URL %s", a)
	}
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := cluster.StopServer(false); err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.Connect(ctx, b); err == nil {
		t.Error("connected to a stopped server")
	}
	if err := cluster.StartServer(); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 't'").Scan(&n); err != nil || n != 0 {
		t.Errorf("the second database sees the first's table: %d, %v", n, err)
	}
}
