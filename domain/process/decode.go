package process

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"

	"github.com/ticketledger/ticketledger/domain"
)

// YAML tags of the scalars the decoder reads.
const (
	tagStr       = "!!str"
	tagInt       = "!!int"
	tagFloat     = "!!float"
	tagBool      = "!!bool"
	tagNull      = "!!null"
	tagTimestamp = "!!timestamp"
	tagMerge     = "!!merge"
)

// entry is one key of a mapping with the path of its value.
type entry struct {
	key  string
	node *yaml.Node
	path string
}

// decoder turns YAML nodes into definition parts, reporting every problem it meets.
type decoder struct {
	report
}

// parseYAML reads exactly one YAML (or JSON) document and returns its root node.
func parseYAML(src []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the document is empty")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("the source holds more than one document")
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) != 1 {
			return nil, errors.New("the document is empty")
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case tagNull:
			return "null"
		case tagBool:
			return "a boolean"
		case tagInt, tagFloat:
			return "a number"
		case tagStr, tagTimestamp:
			return "a string"
		default:
			return "a value tagged " + n.ShortTag()
		}
	default:
		return "nothing"
	}
}

func (d *decoder) alias(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode {
		d.add(path, "YAML aliases are not supported")
		return true
	}
	return false
}

// entries returns the keys of a mapping in document order, reporting duplicate keys,
// merge keys, non-scalar keys and a node that is not a mapping.
func (d *decoder) entries(n *yaml.Node, path string) ([]entry, bool) {
	if d.alias(n, path) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		d.add(path, "want a mapping, got %s", describe(n))
		return nil, false
	}
	seen := make(map[string]bool, len(n.Content)/2)
	out := make([]entry, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(path, "keys must be strings, got %s", describe(k))
			continue
		}
		if k.ShortTag() == tagMerge {
			d.add(path, "YAML merge keys (<<) are not supported")
			continue
		}
		p := join(path, k.Value)
		if seen[k.Value] {
			d.add(p, "duplicate key")
			continue
		}
		seen[k.Value] = true
		out = append(out, entry{key: k.Value, node: v, path: p})
	}
	return out, true
}

func (d *decoder) unknown(e entry) { d.add(e.path, "unknown key") }

// text reads a scalar as a string: quoted or plain text, numbers and timestamps are
// taken as written; booleans, null and collections are errors.
func (d *decoder) text(n *yaml.Node, path string) (string, bool) {
	if d.alias(n, path) {
		return "", false
	}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case tagStr, tagInt, tagFloat, tagTimestamp:
			if !utf8.ValidString(n.Value) {
				d.add(path, "must be valid UTF-8")
				return "", false
			}
			if !domain.StorableText(n.Value) {
				d.add(path, "must not contain the NUL character (U+0000)")
				return "", false
			}
			return n.Value, true
		}
	}
	d.add(path, "want a string, got %s", describe(n))
	return "", false
}

// label reads a non-empty display string of at most max bytes.
func (d *decoder) label(n *yaml.Node, path string, max int) (string, bool) {
	s, ok := d.text(n, path)
	if !ok {
		return "", false
	}
	switch {
	case strings.TrimSpace(s) == "":
		d.add(path, "must not be empty")
		return "", false
	case len(s) > max:
		d.add(path, "must be at most %d bytes long", max)
		return "", false
	}
	return s, true
}

// ident reads an identifier: a principal, role or group id. It must be non-empty, at most
// 256 bytes, without control characters or surrounding spaces.
func (d *decoder) ident(n *yaml.Node, path string) (string, bool) {
	s, ok := d.text(n, path)
	if !ok {
		return "", false
	}
	if msg := checkIdent(s); msg != "" {
		d.add(path, "%s", msg)
		return "", false
	}
	return s, true
}

func checkIdent(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > 256:
		return "must be at most 256 bytes long"
	case strings.TrimSpace(s) != s:
		return "must not start or end with spaces"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "must not hold control characters"
		}
	}
	return ""
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if d.alias(n, path) {
		return false, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == tagBool {
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err == nil {
			return b, true
		}
	}
	d.add(path, "want true or false, got %s", describe(n))
	return false, false
}

func (d *decoder) integer(n *yaml.Node, path string, lo, hi int) (int, bool) {
	if d.alias(n, path) {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tagInt {
		d.add(path, "want a whole number, got %s", describe(n))
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil || v < int64(lo) || v > int64(hi) {
		d.add(path, "must be a whole number in %d..%d", lo, hi)
		return 0, false
	}
	return int(v), true
}

func (d *decoder) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	if d.alias(n, path) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		d.add(path, "want a list, got %s", describe(n))
		return nil, false
	}
	return n.Content, true
}

func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := d.text(n, path)
	if !ok {
		return 0, false
	}
	v, err := parseDuration(s)
	if err != nil {
		d.add(path, "%v", err)
		return 0, false
	}
	return v, true
}

// sla reads either a duration (the due time) or a mapping {due, remind}.
func (d *decoder) sla(n *yaml.Node, path string) SLA {
	if n.Kind == yaml.ScalarNode {
		v, _ := d.duration(n, path)
		return SLA{Due: v}
	}
	es, ok := d.entries(n, path)
	if !ok {
		return SLA{}
	}
	var s SLA
	hasDue := false
	for _, e := range es {
		switch e.key {
		case "due":
			hasDue = true
			s.Due, _ = d.duration(e.node, e.path)
		case "remind":
			s.Remind, _ = d.duration(e.node, e.path)
		default:
			d.unknown(e)
		}
	}
	if !hasDue {
		d.add(join(path, "due"), "is required with remind")
	}
	if s.Due != 0 && s.Remind >= s.Due {
		d.add(join(path, "remind"), "must be shorter than due")
	}
	return s
}

func (d *decoder) settings(n *yaml.Node, path string) Settings {
	var s Settings
	es, _ := d.entries(n, path)
	for _, e := range es {
		switch e.key {
		case "urge_interval":
			s.UrgeInterval, _ = d.duration(e.node, e.path)
		case "sla":
			s.SLA = d.sla(e.node, e.path)
		case "node_sla":
			s.NodeSLA = d.sla(e.node, e.path)
		default:
			d.unknown(e)
		}
	}
	return s
}

// LimitDuration is the longest duration a definition may give.
const LimitDuration = 366 * 24 * time.Hour

// parseDuration reads a positive whole number of seconds written in Go's duration syntax
// with an optional leading count of days, e.g. "24h", "1d12h", "90m", "30s".
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration such as \"8h\", \"30m\" or \"1d12h\"", s)
	rest := s
	var total time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		days, err := strconv.Atoi(s[:i])
		if err != nil || days < 0 || days > int(LimitDuration/(24*time.Hour)) || strings.ContainsAny(s[:i], "+-") {
			return 0, bad
		}
		total = time.Duration(days) * 24 * time.Hour
		rest = s[i+1:]
		if strings.ContainsAny(rest, "+-") {
			return 0, bad
		}
	}
	if rest != "" || total == 0 {
		v, err := time.ParseDuration(rest)
		if err != nil {
			return 0, bad
		}
		total += v
	}
	switch {
	case total <= 0:
		return 0, fmt.Errorf("duration %q must be positive", s)
	case total > LimitDuration:
		return 0, fmt.Errorf("duration %q is longer than %s", s, formatDuration(LimitDuration))
	case total%time.Second != 0:
		return 0, fmt.Errorf("duration %q must be a whole number of seconds", s)
	}
	return total, nil
}

// formatDuration writes d in the canonical form parseDuration reads: days, hours,
// minutes, seconds, each only when not zero, e.g. "1d12h", "8h", "1m30s".
func formatDuration(d time.Duration) string {
	var b strings.Builder
	for _, u := range []struct {
		size time.Duration
		unit string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.unit)
			d -= n * u.size
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}
