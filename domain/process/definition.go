package process

import (
	"crypto/sha256"
	"encoding/hex"
)

// Definition is a parsed and validated process definition: its fields, its ordered nodes
// with compiled conditions, and its canonical document. A Definition is immutable and
// safe for concurrent use; obtain one from Parse.
type Definition struct {
	key         string
	name        string
	description string
	system      string
	settings    Settings

	fields     []Field
	fieldIndex map[string]int
	nodes      []Node
	nodeIndex  map[string]int
	env        *conditionEnv

	document []byte
	digest   string
}

// Key returns the process key, a slug that names the stream "process-<key>".
func (d *Definition) Key() string { return d.key }

// Name returns the process's display name.
func (d *Definition) Name() string { return d.name }

// Description returns the process's description, possibly empty.
func (d *Definition) Description() string { return d.description }

// System returns the slug of the business system allowed to submit tickets.
func (d *Definition) System() string { return d.system }

// Settings returns the ticket-wide settings.
func (d *Definition) Settings() Settings { return d.settings }

// Fields returns the fields in document order.
func (d *Definition) Fields() []Field { return append([]Field(nil), d.fields...) }

// Field returns the field with the given name.
func (d *Definition) Field(name string) (Field, bool) {
	i, ok := d.fieldIndex[name]
	if !ok {
		return Field{}, false
	}
	return d.fields[i], true
}

// Nodes returns the nodes in order.
func (d *Definition) Nodes() []Node { return append([]Node(nil), d.nodes...) }

// Node returns the node with the given key and its 0-based position.
func (d *Definition) Node(key string) (Node, int, bool) {
	i, ok := d.nodeIndex[key]
	if !ok {
		return Node{}, -1, false
	}
	return d.nodes[i], i, true
}

// VisibleFields returns the names of the fields the handlers of the node may see, in
// field order: empty, not nil, for a node that may see none (`visible: []`); nil for an
// unknown node.
func (d *Definition) VisibleFields(nodeKey string) []string {
	i, ok := d.nodeIndex[nodeKey]
	if !ok {
		return nil
	}
	out := make([]string, len(d.nodes[i].Visible))
	copy(out, d.nodes[i].Visible)
	return out
}

// EditableFields returns the names of the fields the handlers of the node may change, in
// field order; nil for an unknown node or a node that may change none.
func (d *Definition) EditableFields(nodeKey string) []string {
	i, ok := d.nodeIndex[nodeKey]
	if !ok || len(d.nodes[i].Editable) == 0 {
		return nil
	}
	return append([]string(nil), d.nodes[i].Editable...)
}

// Project returns the subset of values the handlers of the node may see. The result
// shares no maps or slices with values; it is empty for an unknown node.
func (d *Definition) Project(nodeKey string, values Values) Values {
	out := Values{}
	i, ok := d.nodeIndex[nodeKey]
	if !ok {
		return out
	}
	for _, name := range d.nodes[i].Visible {
		if v, ok := values[name]; ok {
			out[name] = cloneValue(v)
		}
	}
	return out
}

// Document returns the canonical JSON document of the definition: the same definition
// whatever the source's format, layout, comments or key order, with defaults made
// explicit. Parse(Document()) yields an identical definition.
func (d *Definition) Document() []byte { return append([]byte(nil), d.document...) }

// Digest returns the lower-case hex SHA-256 of Document: equal digests mean identical
// definitions.
func (d *Definition) Digest() string { return d.digest }

func digestOf(doc []byte) string {
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:])
}
