// Package switchboard owns the durable file queues that every message lives
// in between two steps of its processing: the files under
// <var_dir>/queue/<name>/, their format, and the protocol that moves them
// through their states without ever losing one.
//
// It knows nothing of mailing lists, chains or runners: an entry is opaque
// message bytes plus metadata (msgdata), and callers decide what the metadata
// means. It returns errors and never logs.
//
// # File names and states
//
// An entry is one file named <T>+<H>.<ext>:
//
//   - T is a time, "seconds.nanoseconds" since the Unix epoch with ten digits
//     before the point, so names sort by time as plain strings (until 2286).
//     For a ready entry it is the arrival time, which gives FIFO order; for a
//     deferred entry it is the time it becomes due.
//   - H is 40 hex digits of SHA-1 over the message, the metadata, T and a
//     random nonce. Its top bits choose the slice when a queue is served by
//     several runner instances, and it makes names unique.
//   - ext is the state:
//     .tmp  being written; never read, removed if left behind by a crash;
//     .msg  ready, in FIFO order;
//     .due  deferred: not handed out before the time in its name;
//     .bak  claimed by a runner that is processing it;
//     .psv  preserved in the bad/ directory (corrupt, or it crashed its
//     runner too often); nothing replays it automatically;
//     .new  written from a Journal and not yet published: runners ignore
//     it, and only the journal's holder renames it to .msg.
//
// Enqueue writes the .tmp file, fsyncs it, renames it to .msg or .due and
// fsyncs the directory before it returns, so an entry is either wholly there
// after a crash or not there at all. Dequeue claims an entry by renaming it to
// .bak, which only one process can do. Finish removes the .bak. Moving an entry
// to another queue is Enqueue there followed by Finish here: a crash between
// the two leaves a duplicate, never a loss.
//
// When a runner starts, Recover puts its slice's .bak files (left by a crash)
// back as .msg, counting the attempts in the metadata key "_bak_count"; the
// third time an entry is found claimed it is preserved in bad/ instead, so a
// message that kills its runner cannot crash-loop it.
//
// # Entry format (version 1)
//
// The file is readable with less(1): a few header lines, a blank line, the
// metadata as indented JSON, a newline, and the message exactly as received:
//
//	Mailman-Queue-Entry: 1
//	Msgdata-Length: 42
//	Message-Length: 1234
//
//	{
//	  "listid": "test.example.com"
//	}
//	From: ...
//
// The lengths let the decoder reject a truncated or padded file instead of
// misreading it. Metadata keys starting with "_" hold the switchboard's own
// per-entry state; Enqueue drops them, so they never follow a message into
// another queue.
//
// # The journal
//
// A Journal is a write-ahead log in front of several queues, for a writer
// that acknowledges each entry to someone waiting (the LMTP runner): an
// entry is durable once its record is in one preallocated file, flushed
// with fdatasync once for every entry written meanwhile (group commit).
// The journal then writes its entries as .new files, makes them durable
// with syncfs, records a checkpoint and renames them to .msg; recovery
// rewrites the records past the checkpoint and publishes every .new file.
// An entry is thus visible to runners only once the journal no longer
// needs it, and recovery never duplicates one a runner has taken.
// JournalBacklog counts, from another process, the entries a journal holds
// that its queues do not show yet.
//
// # Waking up
//
// Watch gives a channel that is signalled when a ready or deferred entry
// appears in the queue (through fsnotify). It is a hint only: the directory
// listing is the truth, and runners rescan periodically and after a watcher
// overflow or error.
package switchboard
