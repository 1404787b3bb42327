package switchboard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mailman-go/mailman/internal/flock"
)

// A Journal is a write-ahead log in front of queues, for a writer whose
// callers each wait for their entry to be durable (the LMTP runner answers
// 250 only then). Enqueue appends a record to one preallocated file and
// waits for an fdatasync that covers it; concurrent callers share each
// fdatasync (group commit), and because the file never changes size the
// sync writes data blocks only. That is one flush per batch instead of the
// two per entry (file and directory) of Switchboard.Enqueue.
//
// A background goroutine writes the journaled entries into their queues as
// .new files, which no runner reads, makes them durable with one syncfs,
// records the checkpoint in the journal, and only then renames them to
// .msg. An entry therefore becomes visible to runners only once the
// journal no longer needs it, and recovery can rewrite every record past
// the checkpoint without ever giving a runner the same entry twice.
//
// OpenJournal recovers: it rewrites the records past the checkpoint, syncs
// them, starts a new generation of the log and renames every .new file of
// its queues to .msg. Only one process may hold a journal; it is
// locked while open.
type Journal struct {
	path    string
	f       *os.File
	size    int64
	root    string
	queues  map[string]*Switchboard
	onError func(error)

	hmu    sync.Mutex // serialises header writes
	hdrSeq uint64

	mu         sync.Mutex
	cond       *sync.Cond
	gen        uint64
	tail       int64 // offset of the next record
	lastSeq    uint64
	syncedSeq  uint64
	syncErr    error // a failed fdatasync: nothing more is acknowledged
	unapplied  []journalRecord
	closed     bool
	background sync.WaitGroup
}

// journalRecord is one entry in the log, kept in memory until it is
// written to its queue.
type journalRecord struct {
	seq   uint64
	end   int64 // offset just past the record
	queue string
	name  string
	data  []byte
}

const (
	// DefaultJournalSize is the journal's size: room for about 20,000 posts
	// of 3 KB that are acknowledged but not yet in their queues.
	DefaultJournalSize = 64 << 20

	journalHeaderSize = 4096
	headerSlotSize    = 512
	recordHeaderSize  = 20
	journalMagic      = "MMJ1"
	recordMagic       = "MMJR"

	// applyBatch bounds how many entries share one syncfs and checkpoint.
	applyBatch = 512
)

// applyDelay is how long the first entry of a batch waits for others; a
// variable so that a test can have one batch take all its entries.
var applyDelay = 5 * time.Millisecond

// ErrJournalFull is returned by Journal.Enqueue when no room was made in
// the journal in time: its entries cannot be written to their queues.
var ErrJournalFull = errors.New("journal full: its entries cannot be written to their queues")

// ErrJournalClosed is returned by Journal.Enqueue after Close.
var ErrJournalClosed = errors.New("journal closed")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journalWait is how long Enqueue waits for room in a full journal (its
// entries cannot be written to their queues, say because the disk is full)
// before it gives up with ErrJournalFull.
var journalWait = 10 * time.Second

// Tests replace these to fail the writes into queues and to stop the
// background work at a given step, as a crash would.
var (
	journalWriteFile = os.WriteFile
	testHookApply    = func(step string) {}
)

// OpenJournal opens (creating it if need be) the journal at path, of size
// bytes, in front of queues, all of which must live under one root
// directory, and recovers what a previous holder left. The journal takes
// the queues over: Close closes them. onError is told of
// failures of the background work (which it retries); it may be nil.
func OpenJournal(path string, size int64, queues map[string]*Switchboard, onError func(error)) (*Journal, error) {
	if size < 16*journalHeaderSize {
		return nil, fmt.Errorf("open journal %s: size %d is too small", path, size)
	}
	j := &Journal{path: path, size: size, queues: queues, onError: onError}
	j.cond = sync.NewCond(&j.mu)
	for _, q := range queues {
		j.root = filepath.Dir(q.dir)
		break
	}
	if err := j.open(); err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	if err := j.recover(); err != nil {
		j.f.Close()
		return nil, fmt.Errorf("recover journal %s: %w", path, err)
	}
	j.background.Add(2)
	go j.syncLoop()
	go j.applyLoop()
	return j, nil
}

// open opens and locks the file, preallocating it with zeros when it is new
// or shorter than size: written blocks, not reserved ones, so that a record
// written later changes no file system metadata.
func (j *Journal) open() error {
	if err := os.MkdirAll(filepath.Dir(j.path), 0o770); err != nil {
		return err
	}
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_CREATE, 0o660)
	if err != nil {
		return err
	}
	if err := flock.TakeFile(f); err != nil {
		f.Close()
		return fmt.Errorf("in use by another process: %w", err)
	}
	info, err := f.Stat()
	if err == nil && info.Size() < j.size {
		err = fillZeros(f, info.Size(), j.size)
		if err == nil {
			err = syncDir(filepath.Dir(j.path))
		}
	}
	if err != nil {
		f.Close()
		return err
	}
	j.f = f
	return nil
}

func fillZeros(f *os.File, from, to int64) error {
	zeros := make([]byte, 1<<20)
	for off := from; off < to; {
		n := min(int64(len(zeros)), to-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// header is the journal's checkpoint: records of generation gen from
// offset on are not yet known to be in their queues.
type header struct {
	seq, gen uint64
	offset   int64
}

// readHeader returns the journal's checkpoint; a journal whose header
// slots are both zero is new.
func (j *Journal) readHeader() (header, error) {
	h, ok, blanks, err := readHeaderSlots(j.f)
	switch {
	case err != nil:
		return header{}, err
	case ok:
		return h, nil
	case blanks == 2:
		return header{gen: 0, offset: journalHeaderSize}, nil
	}
	return header{}, errDamagedHeader
}

var errDamagedHeader = errors.New("both header slots are damaged; the file is not a journal or was overwritten")

// readHeaderSlots returns the newer valid one of the two header slots of
// a journal, written alternately so that a torn write leaves the other (ok
// is false when neither is valid), and how many slots are all zeros.
func readHeaderSlots(r io.ReaderAt) (best header, ok bool, blanks int, err error) {
	buf := make([]byte, 2*headerSlotSize)
	if _, err := r.ReadAt(buf, 0); err != nil {
		return header{}, false, 0, err
	}
	for i := range 2 {
		slot := buf[i*headerSlotSize : (i+1)*headerSlotSize]
		if !slices.ContainsFunc(slot, func(b byte) bool { return b != 0 }) {
			blanks++
		}
		h, valid := decodeHeader(slot)
		if valid && (!ok || h.seq > best.seq) {
			best, ok = h, true
		}
	}
	return best, ok, blanks, nil
}

func decodeHeader(b []byte) (header, bool) {
	if string(b[:4]) != journalMagic || crc32.Checksum(b[:28], crcTable) != binary.LittleEndian.Uint32(b[28:32]) {
		return header{}, false
	}
	h := header{
		seq:    binary.LittleEndian.Uint64(b[4:12]),
		gen:    binary.LittleEndian.Uint64(b[12:20]),
		offset: int64(binary.LittleEndian.Uint64(b[20:28])),
	}
	return h, h.offset >= journalHeaderSize
}

// writeHeader durably records that records of gen before offset need no
// replay.
func (j *Journal) writeHeader(gen uint64, offset int64) error {
	j.hmu.Lock()
	defer j.hmu.Unlock()
	j.hdrSeq++
	b := make([]byte, 32)
	copy(b, journalMagic)
	binary.LittleEndian.PutUint64(b[4:12], j.hdrSeq)
	binary.LittleEndian.PutUint64(b[12:20], gen)
	binary.LittleEndian.PutUint64(b[20:28], uint64(offset))
	binary.LittleEndian.PutUint32(b[28:32], crc32.Checksum(b[:28], crcTable))
	if _, err := j.f.WriteAt(b, int64(j.hdrSeq%2)*headerSlotSize); err != nil {
		return err
	}
	return unix.Fdatasync(int(j.f.Fd()))
}

// A record is: magic, generation (8 bytes), payload length (4), CRC-32C
// of generation and payload (4), then the payload: queue name and entry
// name, each preceded by its length in one byte, then the entry file.
func encodeRecord(gen uint64, queue, name string, data []byte) []byte {
	payload := 2 + len(queue) + len(name) + len(data)
	b := make([]byte, recordHeaderSize+payload)
	copy(b, recordMagic)
	binary.LittleEndian.PutUint64(b[4:12], gen)
	binary.LittleEndian.PutUint32(b[12:16], uint32(payload))
	p := b[recordHeaderSize:]
	p[0] = byte(len(queue))
	n := 1 + copy(p[1:], queue)
	p[n] = byte(len(name))
	n += 1 + copy(p[n+1:], name)
	copy(p[n:], data)
	crc := crc32.Update(crc32.Checksum(b[4:12], crcTable), crcTable, p)
	binary.LittleEndian.PutUint32(b[16:20], crc)
	return b
}

// decodeRecord reads the record of generation gen at the start of b. ok is
// false at the end of the log: zeros, an older generation, a torn or
// damaged record.
func decodeRecord(b []byte, gen uint64) (queue, name string, data []byte, size int, ok bool) {
	if len(b) < recordHeaderSize || string(b[:4]) != recordMagic || binary.LittleEndian.Uint64(b[4:12]) != gen {
		return "", "", nil, 0, false
	}
	n := int(binary.LittleEndian.Uint32(b[12:16]))
	if n < 2 || n > len(b)-recordHeaderSize {
		return "", "", nil, 0, false
	}
	p := b[recordHeaderSize : recordHeaderSize+n]
	if crc32.Update(crc32.Checksum(b[4:12], crcTable), crcTable, p) != binary.LittleEndian.Uint32(b[16:20]) {
		return "", "", nil, 0, false
	}
	ql := int(p[0])
	if 1+ql >= len(p) {
		return "", "", nil, 0, false
	}
	queue = string(p[1 : 1+ql])
	nl := int(p[1+ql])
	if 2+ql+nl > len(p) {
		return "", "", nil, 0, false
	}
	name = string(p[2+ql : 2+ql+nl])
	return queue, name, p[2+ql+nl:], recordHeaderSize + n, true
}

// recover rewrites into their queues the records past the checkpoint, makes
// them durable, starts a new generation at the start of the file and
// publishes every journaled entry.
func (j *Journal) recover() error {
	h, err := j.readHeader()
	if err != nil {
		return err
	}
	j.hdrSeq = h.seq
	var recs []journalRecord
	for off := h.offset; h.gen > 0; {
		rec, size, err := j.readRecord(off, h.gen)
		if err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if n, ok := parseFileName(rec.name + extJournaled); !ok || n.base != rec.name {
			return fmt.Errorf("record at offset %d names entry %q, which is not an entry name", off, rec.name)
		}
		recs = append(recs, rec)
		off += int64(size)
	}
	if err := j.write(recs); err != nil {
		return err
	}
	// The checkpoint goes before the renames, as in applyLoop, so that no
	// entry is at once a .msg file and a record past the checkpoint, which
	// JournalBacklog would count with the queues. A crash before the
	// renames leaves .new files, which the next open publishes.
	testHookApply("recover-checkpoint")
	j.gen = h.gen + 1
	j.tail = journalHeaderSize
	if err := j.writeHeader(j.gen, j.tail); err != nil {
		return err
	}
	testHookApply("recover-publish")
	return j.publishAll()
}

// readRecord reads the record of generation gen at off; a size of 0 means
// the end of the log.
func (j *Journal) readRecord(off int64, gen uint64) (journalRecord, int, error) {
	return readRecordAt(j.f, j.size, off, gen)
}

// readRecordAt reads the record of generation gen at off in a journal of
// size bytes.
func readRecordAt(r io.ReaderAt, size, off int64, gen uint64) (journalRecord, int, error) {
	if off+recordHeaderSize > size {
		return journalRecord{}, 0, nil
	}
	head := make([]byte, recordHeaderSize)
	if _, err := r.ReadAt(head, off); err != nil {
		return journalRecord{}, 0, err
	}
	n := int64(binary.LittleEndian.Uint32(head[12:16]))
	if string(head[:4]) != recordMagic || off+recordHeaderSize+n > size {
		return journalRecord{}, 0, nil
	}
	b := make([]byte, recordHeaderSize+n)
	if _, err := r.ReadAt(b, off); err != nil {
		return journalRecord{}, 0, err
	}
	queue, name, data, recSize, ok := decodeRecord(b, gen)
	if !ok {
		return journalRecord{}, 0, nil
	}
	return journalRecord{queue: queue, name: name, data: data}, recSize, nil
}

// queue returns the queue a record names, opening one the journal was not
// given (a record from a configuration with other queues).
func (j *Journal) queue(name string) (*Switchboard, error) {
	if q, ok := j.queues[name]; ok {
		return q, nil
	}
	if j.root == "" {
		return nil, fmt.Errorf("a record for queue %q, which this journal does not serve", name)
	}
	q, err := Open(j.root, name)
	if err != nil {
		return nil, err
	}
	j.queues[name] = q
	return q, nil
}

// write writes recs into their queues as .new files and makes them
// durable.
func (j *Journal) write(recs []journalRecord) error {
	touched := map[*Switchboard]bool{}
	for _, r := range recs {
		q, err := j.queue(r.queue)
		if err != nil {
			return err
		}
		if err := journalWriteFile(filepath.Join(q.dir, r.name+extJournaled), r.data, 0o660); err != nil {
			return err
		}
		touched[q] = true
	}
	// One syncfs per file system makes every file and directory entry
	// durable; queues normally share one.
	devs := map[uint64]bool{}
	for q := range touched {
		dev, err := q.files.FileSystem()
		if err != nil {
			return err
		}
		if devs[dev] {
			continue
		}
		devs[dev] = true
		if err := q.files.SyncFS(); err != nil {
			return fmt.Errorf("syncfs %s: %w", q.dir, err)
		}
	}
	return nil
}

// publish renames the durable .new files of recs to .msg, where runners
// see them. A crash before a rename is mended by publishAll at the next
// open, so the directories need no sync here.
func (j *Journal) publish(recs []journalRecord) error {
	var errs []error
	for _, r := range recs {
		q := j.queues[r.queue]
		err := os.Rename(filepath.Join(q.dir, r.name+extJournaled), filepath.Join(q.dir, r.name+extReady))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// publishAll renames every .new file of the journal's queues to .msg and
// syncs the directories. Only the journal's holder writes .new files, so
// at open every one of them is durable and complete.
func (j *Journal) publishAll() error {
	for _, q := range j.queues {
		des, err := os.ReadDir(q.dir)
		if err != nil {
			return err
		}
		renamed := false
		for _, de := range des {
			n, ok := parseFileName(de.Name())
			if !ok || n.ext != extJournaled {
				continue
			}
			if err := os.Rename(filepath.Join(q.dir, de.Name()), filepath.Join(q.dir, n.base+extReady)); err != nil {
				return err
			}
			renamed = true
		}
		if renamed {
			if err := q.files.Sync(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Enqueue durably adds a ready entry to queue, as Switchboard.Enqueue does:
// when it returns nil the entry survives a crash, and runners see it in
// the queue within milliseconds; when it returns an error the caller must
// not report the entry as accepted (it may still be delivered: at least
// once, never lost).
func (j *Journal) Enqueue(queue string, msg []byte, md Msgdata) (string, error) {
	q, ok := j.queues[queue]
	if !ok {
		return "", fmt.Errorf("enqueue in %s: not a queue of this journal", queue)
	}
	name, _, data, err := q.newEntry(time.Time{}, msg, md)
	if err != nil {
		return "", err
	}
	if int64(recordHeaderSize+2+len(queue)+len(name)+len(data)) > (j.size-journalHeaderSize)/4 {
		// A message this large costs its own two fsyncs anyway.
		return q.Enqueue(msg, md)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.makeRoom(int64(recordHeaderSize + 2 + len(queue) + len(name) + len(data))); err != nil {
		return "", fmt.Errorf("enqueue in %s: %w", queue, err)
	}
	rec := encodeRecord(j.gen, queue, name, data)
	if _, err := j.f.WriteAt(rec, j.tail); err != nil {
		return "", fmt.Errorf("enqueue in %s: journal: %w", queue, err)
	}
	j.tail += int64(len(rec))
	j.lastSeq++
	seq := j.lastSeq
	j.unapplied = append(j.unapplied, journalRecord{seq: seq, end: j.tail, queue: queue, name: name, data: data})
	j.cond.Broadcast()
	for j.syncedSeq < seq && j.syncErr == nil {
		j.cond.Wait()
	}
	if j.syncedSeq < seq {
		return "", fmt.Errorf("enqueue in %s: journal: %w", queue, j.syncErr)
	}
	return name, nil
}

// makeRoom waits, with j.mu held, until n bytes fit at the tail, wrapping
// to the start of the file once every record has reached its queue.
func (j *Journal) makeRoom(n int64) error {
	deadline := time.Now().Add(journalWait)
	timer := time.AfterFunc(journalWait, func() {
		j.mu.Lock()
		j.cond.Broadcast()
		j.mu.Unlock()
	})
	defer timer.Stop()
	for j.tail+n > j.size {
		switch {
		case j.closed:
			return ErrJournalClosed
		case j.syncErr != nil:
			return j.syncErr
		case len(j.unapplied) == 0:
			if err := j.writeHeader(j.gen+1, journalHeaderSize); err != nil {
				return err
			}
			j.gen++
			j.tail = journalHeaderSize
			return nil
		case !time.Now().Before(deadline):
			return ErrJournalFull
		}
		j.cond.Wait()
	}
	if j.closed {
		return ErrJournalClosed
	}
	return j.syncErr
}

// syncLoop is the group commit: each fdatasync covers every record written
// before it started, and releases all their writers at once.
func (j *Journal) syncLoop() {
	defer j.background.Done()
	j.mu.Lock()
	defer j.mu.Unlock()
	for {
		for j.syncedSeq == j.lastSeq && !j.closed {
			j.cond.Wait()
		}
		if j.syncedSeq == j.lastSeq {
			return
		}
		target := j.lastSeq
		j.mu.Unlock()
		err := unix.Fdatasync(int(j.f.Fd()))
		j.mu.Lock()
		if err != nil {
			// After a failed fdatasync the kernel may have dropped the dirty
			// pages: nothing written since the last good sync is known to be
			// on disk, and no later sync can say otherwise.
			j.syncErr = fmt.Errorf("fdatasync: %w", err)
			j.cond.Broadcast()
			return
		}
		j.syncedSeq = target
		j.cond.Broadcast()
	}
}

// applyLoop writes synced records into their queues in batches, each made
// durable by one syncfs, checkpointed, then published.
func (j *Journal) applyLoop() {
	defer j.background.Done()
	backoff := 50 * time.Millisecond
	for {
		j.mu.Lock()
		for len(j.unapplied) == 0 || j.unapplied[0].seq > j.syncedSeq {
			// Once closed, what was acknowledged is applied before the
			// loop ends; what never will be synced is not.
			if j.closed && (len(j.unapplied) == 0 || j.syncErr != nil) {
				j.mu.Unlock()
				return
			}
			j.cond.Wait()
		}
		if !j.closed && len(j.unapplied) < applyBatch {
			// Let a batch gather: each one costs a syncfs and a checkpoint,
			// which, paid per entry, would take the disk time the journal
			// saves. Runners see entries this much later.
			j.mu.Unlock()
			time.Sleep(applyDelay)
			j.mu.Lock()
		}
		n := 0
		for n < len(j.unapplied) && n < applyBatch && j.unapplied[n].seq <= j.syncedSeq {
			n++
		}
		batch := j.unapplied[:n]
		closed := j.closed
		gen := j.gen
		j.mu.Unlock()

		testHookApply("write")
		err := j.write(batch)
		if err == nil {
			testHookApply("checkpoint")
			err = j.writeHeader(gen, batch[n-1].end)
		}
		if err != nil {
			if closed {
				// The records stay in the journal for the next open.
				if j.onError != nil {
					j.onError(fmt.Errorf("journal %s: write entries to their queues (left for the next start): %w", j.path, err))
				}
				return
			}
			if j.onError != nil {
				j.onError(fmt.Errorf("journal %s: write entries to their queues (will retry): %w", j.path, err))
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		testHookApply("publish")
		if err := j.publish(batch); err != nil && j.onError != nil {
			j.onError(fmt.Errorf("journal %s: publish entries (the next start will): %w", j.path, err))
		}
		j.mu.Lock()
		j.unapplied = j.unapplied[n:]
		j.cond.Broadcast()
		j.mu.Unlock()
	}
}

// Flush waits until every entry acknowledged so far is published in its
// queue.
func (j *Journal) Flush() {
	j.mu.Lock()
	defer j.mu.Unlock()
	seq := j.lastSeq
	for len(j.unapplied) > 0 && j.unapplied[0].seq <= seq && !j.closed {
		j.cond.Wait()
	}
}

// Close stops taking entries, publishes those acknowledged (unless their
// writing fails, in which case the next OpenJournal recovers them), and
// closes the file and the queues.
func (j *Journal) Close() error {
	j.mu.Lock()
	j.closed = true
	j.cond.Broadcast()
	j.mu.Unlock()
	j.background.Wait()
	err := j.f.Close()
	for _, q := range j.queues {
		q.Close()
	}
	return err
}

// JournalBacklog counts, by queue, the entries recorded in the journal at
// path that are not yet published in their queues: the records past its
// checkpoint. It is for a process other than the journal's holder
// (mailmanctl queues): it takes no lock and writes nothing, and reads a
// journal being written as it stands, stopping at a record not written
// whole, so that one being written may be missed but one acknowledged is
// counted. A journal that does not exist, or is still being created, has
// no backlog.
//
// Count it after the queues, not before, and no entry is counted twice:
// the holder publishes an entry (renames its .new file, which Count
// skips, to .msg) only once a checkpoint past its record is durable, so an
// entry Count saw is behind the checkpoint JournalBacklog reads later. (The
// other way round, an entry published in between would be counted twice.)
// An entry whose .new file exists but whose record is not yet behind the
// checkpoint is the journal's and counted here; one already behind it but
// not yet renamed is counted by neither, for the moment a batch of
// renames takes.
func JournalBacklog(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal backlog %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("journal backlog %s: %w", path, err)
	}
	if info.Size() < journalHeaderSize {
		// OpenJournal is still filling the new file with zeros.
		return nil, nil
	}
	h, ok, blanks, err := readHeaderSlots(f)
	switch {
	case err != nil:
		return nil, fmt.Errorf("journal backlog %s: %w", path, err)
	case !ok && blanks > 0:
		// A new journal, whose first checkpoint is not written whole yet:
		// OpenJournal writes it before taking any entry.
		return nil, nil
	case !ok:
		return nil, fmt.Errorf("journal backlog %s: %w", path, errDamagedHeader)
	}
	backlog := map[string]int{}
	for off := h.offset; ; {
		rec, n, err := readRecordAt(f, info.Size(), off, h.gen)
		if err != nil {
			return nil, fmt.Errorf("journal backlog %s: %w", path, err)
		}
		if n == 0 {
			return backlog, nil
		}
		backlog[rec.queue]++
		off += int64(n)
	}
}
