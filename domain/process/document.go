package process

import (
	"bytes"
	"encoding/json"
)

type definitionDoc struct {
	Key         string       `json:"key"`
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	System      string       `json:"system"`
	Settings    *settingsDoc `json:"settings,omitempty"`
	Fields      fieldsDoc    `json:"fields,omitempty"`
	Nodes       []nodeDoc    `json:"nodes"`
}

type settingsDoc struct {
	UrgeInterval string  `json:"urge_interval,omitempty"`
	SLA          *slaDoc `json:"sla,omitempty"`
	NodeSLA      *slaDoc `json:"node_sla,omitempty"`
}

type slaDoc struct {
	Due    string `json:"due"`
	Remind string `json:"remind,omitempty"`
}

type fieldDoc struct {
	Type        FieldType       `json:"type"`
	Label       string          `json:"label,omitempty"`
	Description string          `json:"description,omitempty"`
	Required    bool            `json:"required,omitempty"`
	MinLength   int             `json:"min_length,omitempty"`
	MaxLength   int             `json:"max_length,omitempty"`
	Pattern     string          `json:"pattern,omitempty"`
	Integer     bool            `json:"integer,omitempty"`
	Currency    string          `json:"currency,omitempty"`
	Scale       *int            `json:"scale,omitempty"`
	Min         json.RawMessage `json:"min,omitempty"`
	Max         json.RawMessage `json:"max,omitempty"`
	Values      []optionDoc     `json:"values,omitempty"`
	MinItems    int             `json:"min_items,omitempty"`
	MaxItems    int             `json:"max_items,omitempty"`
	MinRows     int             `json:"min_rows,omitempty"`
	MaxRows     int             `json:"max_rows,omitempty"`
	Columns     fieldsDoc       `json:"columns,omitempty"`
}

type optionDoc struct {
	Value string `json:"value"`
	Label string `json:"label,omitempty"`
}

type namedField struct {
	name string
	doc  fieldDoc
}

// fieldsDoc encodes as a JSON object whose keys keep the fields' order.
type fieldsDoc []namedField

func (fs fieldsDoc) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(f.name)
		if err != nil {
			return nil, err
		}
		v, err := marshal(f.doc)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

type nodeDoc struct {
	Key         string           `json:"key"`
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	When        string           `json:"when,omitempty"`
	Handlers    []map[string]any `json:"handlers"`
	Mode        Mode             `json:"mode"`
	Visible     *[]string        `json:"visible,omitempty"`
	Editable    []string         `json:"editable,omitempty"`
	SLA         *slaDoc          `json:"sla,omitempty"`
	CC          []map[string]any `json:"cc,omitempty"`
	Reject      string           `json:"reject"`
	Empty       EmptyPolicy      `json:"empty"`
}

// marshal encodes v as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func encodeDocument(def *Definition) ([]byte, error) {
	doc := definitionDoc{
		Key:         def.key,
		Name:        def.name,
		Description: def.description,
		System:      def.system,
		Fields:      fieldDocs(def.fields),
		Nodes:       make([]nodeDoc, len(def.nodes)),
	}
	s := def.settings
	if s.UrgeInterval != 0 || !s.SLA.IsZero() || !s.NodeSLA.IsZero() {
		doc.Settings = &settingsDoc{SLA: slaDocOf(s.SLA), NodeSLA: slaDocOf(s.NodeSLA)}
		if s.UrgeInterval != 0 {
			doc.Settings.UrgeInterval = formatDuration(s.UrgeInterval)
		}
	}
	for i, n := range def.nodes {
		nd := nodeDoc{
			Key:         n.Key,
			Name:        n.Name,
			Description: n.Description,
			When:        n.When,
			Handlers:    handlerDocs(n.Handlers),
			Mode:        n.Mode,
			Editable:    n.Editable,
			SLA:         slaDocOf(n.SLA),
			CC:          handlerDocs(n.CC),
			Reject:      n.Reject,
			Empty:       n.Empty,
		}
		if n.visibleGiven {
			v := n.Visible
			nd.Visible = &v
		}
		doc.Nodes[i] = nd
	}
	return marshal(doc)
}

func slaDocOf(s SLA) *slaDoc {
	if s.IsZero() {
		return nil
	}
	d := &slaDoc{Due: formatDuration(s.Due)}
	if s.Remind != 0 {
		d.Remind = formatDuration(s.Remind)
	}
	return d
}

func fieldDocs(fields []Field) fieldsDoc {
	out := make(fieldsDoc, len(fields))
	for i, f := range fields {
		fd := fieldDoc{
			Type:        f.Type,
			Label:       f.Label,
			Description: f.Description,
			Required:    f.Required,
			MinLength:   f.MinLength,
			MaxLength:   f.MaxLength,
			Pattern:     f.Pattern,
			Integer:     f.Integer,
			Currency:    f.Currency,
			Min:         boundDoc(f.Type, f.Min),
			Max:         boundDoc(f.Type, f.Max),
			Columns:     fieldDocs(f.Columns),
		}
		if f.Type == TypeMoney {
			scale := f.Scale
			fd.Scale = &scale
		}
		for _, o := range f.Options {
			fd.Values = append(fd.Values, optionDoc(o))
		}
		if f.Type == TypeTable {
			fd.MinRows, fd.MaxRows = f.MinItems, f.MaxItems
		} else {
			fd.MinItems, fd.MaxItems = f.MinItems, f.MaxItems
		}
		out[i] = namedField{name: f.Name, doc: fd}
	}
	return out
}

func boundDoc(t FieldType, text string) json.RawMessage {
	if text == "" {
		return nil
	}
	if t == TypeNumber {
		return json.RawMessage(text)
	}
	b, _ := marshal(text)
	return b
}

func handlerDocs(hs []Handler) []map[string]any {
	if len(hs) == 0 {
		return nil
	}
	out := make([]map[string]any, len(hs))
	for i, h := range hs {
		switch h.Kind {
		case HandlerSubmitter:
			out[i] = map[string]any{string(h.Kind): true}
		case HandlerChosen:
			if h.Role == "" && h.Group == "" && h.Max == 1 {
				out[i] = map[string]any{string(h.Kind): true}
				continue
			}
			c := map[string]any{"max": h.Max}
			if h.Role != "" {
				c["role"] = h.Role
			}
			if h.Group != "" {
				c["group"] = h.Group
			}
			out[i] = map[string]any{string(h.Kind): c}
		default:
			out[i] = map[string]any{string(h.Kind): h.Value}
		}
	}
	return out
}
