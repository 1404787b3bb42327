package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailman-go/mailman/internal/lmtpload"
)

// poster is the envelope and From address of every load message: not a
// member of any list, which the lists let post.
const poster = "poster@client.example"

// message is a post of about 3 KB to list with Message-ID id.
func message(list, id string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: bench %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n\r\n",
		poster, list, id, id, time.Now().Format(time.RFC1123Z))
	for b.Len() < 3000 {
		b.WriteString("The quick brown fox jumps over the lazy dog, again and again.\r\n")
	}
	return []byte(b.String())
}

// spread runs n numbered operations over width workers, each set up by
// start, and returns how long they took; the first error stops it.
func spread(n, width int, start func() (op func(i int) error, stop func(), err error)) (time.Duration, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		next.Store(int64(n))
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	for range width {
		wg.Go(func() {
			op, stop, err := start()
			if err != nil {
				fail(err)
				return
			}
			defer stop()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := op(i); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(t0), first
}

// ingest sends n posts to list over conns LMTP connections to addr and
// returns messages per second. run names the posts, so that no two runs
// share a Message-ID.
func ingest(addr, list, run string, n, conns int) (float64, error) {
	d, err := spread(n, conns, func() (func(int) error, func(), error) {
		c, err := lmtpload.Dial(addr, 5*time.Second)
		if err != nil {
			return nil, nil, err
		}
		send := func(i int) error {
			replies, err := c.Send(poster, []string{list}, message(list, fmt.Sprintf("%s-%d@client.example", run, i)))
			if err == nil && !replies[0].OK() {
				err = fmt.Errorf("message %d: %v", i, replies[0])
			}
			return err
		}
		return send, func() { c.Close() }, nil
	})
	return float64(n) / d.Seconds(), err
}

// durableFiles writes n 3 KB files into dir with writers goroutines, each
// file as a queue must: create, write, fsync, rename, fsync of the
// directory. It is the rate one fsync'd file per message allows. dir
// should be the queue directory the server under test fills: on ext4 a
// directory's history changes how fast files are created in it. The files
// are named so that no queue takes them, and removed afterwards.
func durableFiles(dir, run string, n, writers int) (float64, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	body := message("floor@example.com", "floor@client.example")
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("floor-%s-%d", run, i)) }
	defer func() {
		for i := 1; i <= n; i++ {
			os.Remove(name(i) + ".bare")
		}
	}()
	dur, err := spread(n, writers, func() (func(int) error, func(), error) {
		return func(i int) error {
			tmp := name(i) + ".tmp"
			f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
			if err != nil {
				return err
			}
			if _, err := f.Write(body); err != nil {
				f.Close()
				return err
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp, name(i)+".bare"); err != nil {
				return err
			}
			return d.Sync()
		}, func() {}, nil
	})
	return float64(n) / dur.Seconds(), err
}

// discardLMTP is an LMTP server that reads each message whole and keeps
// nothing: the rate of the protocol exchange alone.
type discardLMTP struct {
	srv  *smtp.Server
	addr string
}

func startDiscardLMTP() (*discardLMTP, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &discardSession{}, nil }))
	srv.LMTP = true
	srv.Domain = "localhost"
	srv.MaxRecipients = 1000
	go srv.Serve(l)
	return &discardLMTP{srv: srv, addr: l.Addr().String()}, nil
}

func (d *discardLMTP) Close() { d.srv.Close() }

type discardSession struct{ rcpts []string }

func (d *discardSession) Reset()                               { d.rcpts = nil }
func (d *discardSession) Logout() error                        { return nil }
func (d *discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (d *discardSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	d.rcpts = append(d.rcpts, to)
	return nil
}
func (d *discardSession) Data(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }
func (d *discardSession) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	_, err := io.Copy(io.Discard, r)
	for _, rc := range d.rcpts {
		st.SetStatus(rc, err)
	}
	return nil
}

// latency is the spread of one run's delays.
type latency struct{ p50, p99 time.Duration }

// endToEnd sends posts to list at addr, one every interval, each on a new
// connection as an MTA opens one per delivery, after two that warm up,
// and returns the delay from each 250 to the sink's receipt of the copy.
func endToEnd(addr string, sink *sink, list, run string, posts int, interval time.Duration) (latency, error) {
	type sent struct {
		id string
		at time.Time
	}
	var all []sent
	for i := -2; i < posts; i++ {
		id := fmt.Sprintf("%s-%d@client.example", run, i)
		c, err := lmtpload.Dial(addr, 5*time.Second)
		if err != nil {
			return latency{}, err
		}
		replies, err := c.Send(poster, []string{list}, message(list, id))
		at := time.Now()
		c.Close()
		if err != nil {
			return latency{}, err
		}
		if !replies[0].OK() {
			return latency{}, fmt.Errorf("post %s: %v", id, replies[0])
		}
		if i >= 0 {
			all = append(all, sent{id, at})
		}
		time.Sleep(interval)
	}
	var ds []time.Duration
	for _, s := range all {
		got, err := sink.wait(s.id, 1, time.Minute)
		if err != nil {
			return latency{}, err
		}
		ds = append(ds, got.Sub(s.at))
	}
	slices.Sort(ds)
	return latency{p50: ds[len(ds)/2], p99: ds[min(len(ds)-1, len(ds)*99/100)]}, nil
}

// fanout sends one post to list and returns the time from its 250 until
// the sink has a copy for every one of members.
func fanout(addr string, sink *sink, list, run string, members int) (time.Duration, error) {
	id := run + "@client.example"
	c, err := lmtpload.Dial(addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	replies, err := c.Send(poster, []string{list}, message(list, id))
	at := time.Now()
	if err != nil {
		return 0, err
	}
	if !replies[0].OK() {
		return 0, fmt.Errorf("post to %s: %v", list, replies[0])
	}
	done, err := sink.wait(id, members, 5*time.Minute)
	return done.Sub(at), err
}

// waitLMTP polls addr until it answers LHLO, and returns when it did.
func waitLMTP(addr string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := lmtpload.Dial(addr, time.Second); err == nil {
			at := time.Now()
			c.Close()
			return at, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("LMTP at %s did not answer within %s", addr, timeout)
}
