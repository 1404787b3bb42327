// Package msgdata names, once, the metadata keys that travel with a message
// in its queue entries (Mailman's msgdata): who writes each one, who reads
// it, and what its value is. The names are Mailman's, so that an entry
// reads the same in `mailmanctl qfile` as in Mailman's `qfile`.
//
// The switchboard stores metadata without knowing what it means; the LMTP
// door, the runners, notices, moderation and `mailmanctl inject` agree
// through these names only.
package msgdata

// Keys set where a message comes in (the LMTP door, `mailmanctl inject`).
const (
	// ListID is the list-id of the list the message is for (a string);
	// empty or missing for a site notice that belongs to no list.
	ListID = "listid"
	// OriginalSize is the size of the message as received, in bytes.
	OriginalSize = "original_size"
	// ReceivedTime is when it was received, RFC 3339 with nanoseconds, UTC.
	ReceivedTime = "received_time"
	// Subaddress is the list sub-address it was sent to (mta.Owner,
	// mta.Request, ...); missing for a post.
	Subaddress = "subaddress"
	// ToList marks a post to the list's posting address.
	ToList = "to_list"
	// ToOwner marks mail to the list's -owner address: the owner chain and
	// pipeline take it.
	ToOwner = "to_owner"
	// ToRequest marks mail to the list's -request address.
	ToRequest = "to_request"
)

// Keys the incoming runner and moderation set.
const (
	// EnvSender is the envelope sender to deliver with; the pipeline makes
	// it the list's -bounces address when none is set.
	EnvSender = "envsender"
	// ModeratorApproved marks a held post a moderator accepted: the
	// emergency rule lets it through.
	ModeratorApproved = "moderator_approved"
	// DMARC marks a post whose From domain publishes a DMARC policy of
	// reject or quarantine (or could not be asked): the pipeline's dmarc
	// step munges its From or wraps it, as the list says.
	DMARC = "dmarc"
)

// Keys the pipeline sets.
const (
	// Recipients are the addresses to deliver to (a list of strings).
	Recipients = "recipients"
	// OriginalSender is the sender before the pipeline rewrote anything.
	OriginalSender = "original_sender"
	// OriginalSubject is the Subject before the prefix was added.
	OriginalSubject = "original_subject"
	// StrippedSubject is the Subject without any prefix or "Re:".
	StrippedSubject = "stripped_subject"
	// PostID is the post's number in its list (an integer).
	PostID = "post_id"
)

// Keys set on notices, which the virgin pipeline and outgoing read.
const (
	// ReducedListHeaders asks for the list headers a notice carries rather
	// than a post's full set.
	ReducedListHeaders = "reduced_list_headers"
	// NoDecorate asks outgoing not to add the list's footer.
	NoDecorate = "nodecorate"
	// DecorationData are placeholders for the post's header and footer
	// (an object of strings): the pipeline puts each archiver's link to
	// the post there as NAME_url, as Mailman does.
	DecorationData = "decoration-data"
)

// Keys the outgoing runner keeps on an entry it parks in retry.
const (
	// VERP is whether each recipient gets its own envelope sender; once
	// decided it sticks across attempts.
	VERP = "verp"
	// Attempts counts the delivery attempts that were deferred.
	Attempts = "attempts"
	// LastRecipCount is how many recipients were still owed at the last
	// attempt; fewer now means progress.
	LastRecipCount = "last_recip_count"
	// DeliverUntil is when retrying stops (RFC 3339).
	DeliverUntil = "deliver_until"
)

// Keys of the archive queue, which the archive runner sets on an entry it
// keeps for later.
const (
	// Archivers are the archivers still to take the post (a list of
	// names); missing on a new entry, whose list's archivers all are.
	Archivers = "archivers"
	// ArchiveAttempts counts the tries of those archivers so far.
	ArchiveAttempts = "archive_attempts"
)

// Keys the runners' loop sets on an entry it shunts, which unshunt reads
// and removes.
const (
	// WhichQ is the queue the entry was shunted from.
	WhichQ = "whichq"
	// Error is why it was shunted.
	Error = "error"
)
