package message

import (
	"mime"
	"strings"
)

// Leaf is one part of a message that is not multipart.
type Leaf struct {
	MediaType string            // lower-case; text/plain when the part names none
	Params    map[string]string // its Content-Type parameters, names lower-case
	Header    *Message          // the part's header fields (the message's own for a message of one part)
	Content   []byte            // decoded from its transfer encoding, or as written when that is broken
}

// Leaves returns the leaves of the message, depth-first. A message/rfc822
// part is a leaf, its content the enclosed message: what a bounce or a
// digest encloses is not searched as the message's own.
func (m *Message) Leaves() []Leaf {
	var leaves []Leaf
	walkLeaves(m, m.body, 0, &leaves)
	return leaves
}

func walkLeaves(h *Message, body []byte, depth int, leaves *[]Leaf) {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt == "" {
		mt, params = "text/plain", map[string]string{}
	}
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && depth < maxDepth {
		parts := splitParts(body, params["boundary"])
		if len(parts) == 0 {
			// No delimiter where the boundary says: the body is all
			// there is to read.
			*leaves = append(*leaves, Leaf{MediaType: "text/plain", Params: map[string]string{}, Header: h, Content: body})
			return
		}
		for _, part := range parts {
			ph, err := Parse(part.data)
			if err != nil {
				continue
			}
			if !ph.Has("Content-Type") && mt == "multipart/digest" {
				ph.Set("Content-Type", "message/rfc822")
			}
			walkLeaves(ph, ph.body, depth+1, leaves)
		}
		return
	}
	content, err := decode(body, strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))))
	if err != nil {
		content = body
	}
	*leaves = append(*leaves, Leaf{MediaType: mt, Params: params, Header: h, Content: content})
}

// Text is the leaf's content as UTF-8, decoded from its charset, with
// what cannot be decoded replaced by U+FFFD.
func (l Leaf) Text() string {
	return toUTF8(l.Content, strings.ToLower(l.Params["charset"]))
}
