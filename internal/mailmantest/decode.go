package mailmantest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// DecodedText is a message as a test reads it: its header, then each part
// (enclosed messages too) with its header and its body decoded from base64
// or quoted-printable, so that a test finds a post in a digest whatever
// encoding the digest chose.
func DecodedText(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	if err := decodeMessage(&out, raw, 0); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func decodeMessage(out *bytes.Buffer, raw []byte, depth int) error {
	if depth > 10 {
		return fmt.Errorf("messages nested more than 10 deep")
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	for k, vs := range m.Header {
		for _, v := range vs {
			fmt.Fprintf(out, "%s: %s\n", k, v)
		}
	}
	out.WriteString("\n")
	return decodeBody(out, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body, depth)
}

func decodeBody(out *bytes.Buffer, contentType, encoding string, body io.Reader, depth int) error {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, newlineless{body})
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		media = "text/plain"
	}
	switch {
	case strings.HasPrefix(media, "multipart/"):
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			for k, vs := range p.Header {
				for _, v := range vs {
					fmt.Fprintf(out, "%s: %s\n", k, v)
				}
			}
			out.WriteString("\n")
			ct := p.Header.Get("Content-Type")
			if ct == "" && media == "multipart/digest" {
				ct = "message/rfc822"
			}
			if err := decodeBody(out, ct, p.Header.Get("Content-Transfer-Encoding"), p, depth+1); err != nil {
				return err
			}
		}
	case media == "message/rfc822":
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		return decodeMessage(out, b, depth+1)
	}
	_, err = io.Copy(out, body)
	out.WriteString("\n")
	return err
}

// newlineless drops the line breaks base64 bodies are folded with.
type newlineless struct{ r io.Reader }

func (n newlineless) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	j := 0
	for _, c := range p[:k] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}
