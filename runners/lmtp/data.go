package lmtp

// go-smtp's DATA reader (v0.25 and v0.26) loses track of line starts after a bare CR:
// "\r\r\n.\r\n" is not the end of the data for it, so the session hangs
// until the timeout and the MTA retries for days, a line "..x" after such a
// line keeps its stuffed dot, and ".\rx" loses its CR. limitConn therefore
// decodes the data itself, as RFC 5321 §4.5.2 says (lines end in CRLF; a
// line "." ends the data; a line's leading dot is removed), and hands
// go-smtp an encoding of the same bytes that its reader decodes back to
// them exactly. Bare CR and bare LF are data, kept byte for byte.
type decodeState uint8

const (
	decBegin decodeState = iota // at the start of a line
	decDot                      // after a leading dot
	decDotCR                    // after a leading dot and CR
	decCR                       // after a CR
	decData                     // in a line
)

// encodeState is go-smtp's reader's state, as its transitions go.
type encodeState uint8

const (
	encBegin encodeState = iota // at what it takes for a line start
	encCR                       // after a CR
	encData                     // in a line
)

// padding is what limitConn appends to the data when go-smtp's reader is
// not at a line start at the end of the data, so that the ".\r\n" that
// follows ends it; LMTPData removes it.
const padding = "\r\n"

// readData decodes the client's bytes in c.in up to the end of the data,
// appending go-smtp's encoding of them to out.
func (c *limitConn) readData(out []byte) []byte {
	for i, b := range c.in {
		switch c.dec {
		case decBegin:
			switch b {
			case '.':
				c.dec = decDot
				continue
			case '\r':
				c.dec = decCR
			default:
				c.dec = decData
			}
		case decDot:
			if b == '\r' {
				c.dec = decDotCR
				continue
			}
			c.dec = decData
		case decDotCR:
			if b == '\n' {
				c.in = c.in[i+1:]
				c.inData = false
				if c.enc != encBegin {
					// go-smtp's reader is in a line (after a
					// "\r\r\n"): the CRLF that ended the last line
					// cannot have left it just after a CR.
					out = append(out, padding...)
					c.padded.Store(true)
				}
				return append(out, ".\r\n"...)
			}
			// The line was ".\r" and more: its dot goes, its CR stays.
			out = c.encode(out, '\r')
			if b == '\r' {
				c.dec = decCR
			} else {
				c.dec = decData
			}
		case decCR:
			switch b {
			case '\n':
				c.dec = decBegin
			case '\r': // still just after a CR
			default:
				c.dec = decData
			}
		case decData:
			if b == '\r' {
				c.dec = decCR
			}
		}
		out = c.encode(out, b)
	}
	c.in = c.in[:0]
	return out
}

// encode appends b as go-smtp's reader must receive it to yield b.
func (c *limitConn) encode(out []byte, b byte) []byte {
	switch c.enc {
	case encBegin:
		if b == '.' {
			// Stuffed, as a line start is for go-smtp.
			out = append(out, '.')
		}
		if b == '\r' {
			c.enc = encCR
		} else {
			c.enc = encData
		}
	case encCR:
		// go-smtp takes the CR of "\r\r" for data, not for a line end's.
		if b == '\n' {
			c.enc = encBegin
		} else {
			c.enc = encData
		}
	case encData:
		if b == '\r' {
			c.enc = encCR
		}
	}
	return append(out, b)
}
