package digest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkBuild builds an issue of 100 posts of some 3 KB, the size
// Mailman's default threshold (30 KB) holds ten of, in each form.
func BenchmarkBuild(b *testing.B) {
	is := Issue{DisplayName: "Test", PostingAddress: "test@example.com", RequestAddress: "test-request@example.com",
		OwnerAddress: "test-owner@example.com", SubjectPrefix: "[Test] ", Volume: 1, Number: 1, Date: time.Now(),
		MessageID: "<bench@example.com>", Footer: "-- \nTest mailing list\n"}
	body := strings.Repeat("A line of a post, as long as most lines are in mail.\n", 55)
	for i := range 100 {
		is.Posts = append(is.Posts, fmt.Appendf(nil, "From: Poster %d <p%d@example.org>\r\nTo: test@example.com\r\nSubject: [Test] Post number %d about something\r\nMessage-ID: <p%d@example.org>\r\nDate: Mon, 06 Jan 2025 10:00:00 +0000\r\n\r\n%s", i, i, i, i, body))
	}
	for _, form := range []struct {
		name  string
		build func(Issue) ([]byte, error)
	}{{"MIME", Issue.MIME}, {"plain", Issue.Plain}} {
		b.Run(form.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := form.build(is); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
