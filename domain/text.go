package domain

import (
	"strings"
	"unicode/utf8"
)

// StorableText reports whether s is text every store and read model can keep: valid
// UTF-8 without the NUL character (U+0000), which PostgreSQL's text and jsonb refuse.
// Text that fails it must be refused before it reaches the log, where it would stay.
func StorableText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }
