package process

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/ticketledger/ticketledger/domain"
)

// fieldsPath is the path prefix of every problem about submitted values.
const fieldsPath = "fields"

// DecodeJSON decodes a JSON object of field values, as a business system submits them,
// into the input form ValidateFields takes. Numbers are kept exactly as written
// (json.Number), so money given as a JSON number loses nothing. It returns a Problems
// error when data is not a single JSON object.
func DecodeJSON(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		msg := "want a JSON object of field values"
		if err != nil {
			msg += ": " + err.Error()
		}
		return nil, Problems{{Path: fieldsPath, Message: msg}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, Problems{{Path: fieldsPath, Message: "unexpected data after the JSON object"}}
	}
	return m, nil
}

// ValidateFields checks a submission's field values against the definition's fields and
// returns them normalised (see Values and FieldType for the Go types). Unknown fields,
// missing required fields, values of the wrong type and values outside their limits are
// each reported, all of them, in a Problems error with paths such as "fields.amount" or
// "fields.items[3].price". A null value counts as absent. input may come from DecodeJSON,
// from encoding/json, or be Values returned earlier.
func (d *Definition) ValidateFields(input map[string]any) (Values, error) {
	var r report
	out := validateRecord(d.fields, d.fieldIndex, input, fieldsPath, &r)
	if err := r.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ValidateJSON is DecodeJSON followed by ValidateFields: it checks a submission given as a
// JSON object.
func (d *Definition) ValidateJSON(data []byte) (Values, error) {
	in, err := DecodeJSON(data)
	if err != nil {
		return nil, err
	}
	return d.ValidateFields(in)
}

// ValidateChanges applies a partial change to current values, as a submitter does when
// resubmitting: each key of changes replaces that field's value, a null value removes an
// optional field, other fields keep their current value. The merged set is validated as
// a whole, as by ValidateFields, and returned normalised.
func (d *Definition) ValidateChanges(current Values, changes map[string]any) (Values, error) {
	return d.applyChanges(current, changes, nil)
}

// ValidateNodeChanges is ValidateChanges for a handler of the node: changing a field that
// is not editable at the node is a problem too. An unknown node is a problem at path
// "node".
func (d *Definition) ValidateNodeChanges(nodeKey string, current Values, changes map[string]any) (Values, error) {
	i, ok := d.nodeIndex[nodeKey]
	if !ok {
		return nil, Problems{{Path: "node", Message: fmt.Sprintf("no node %q", nodeKey)}}
	}
	editable := d.nodes[i].Editable
	if editable == nil {
		editable = []string{}
	}
	return d.applyChanges(current, changes, editable)
}

func (d *Definition) applyChanges(current Values, changes map[string]any, editable []string) (Values, error) {
	var r report
	merged := make(map[string]any, len(current)+len(changes))
	for k, v := range current {
		merged[k] = v
	}
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := join(fieldsPath, k)
		if _, ok := d.fieldIndex[k]; !ok {
			r.add(p, "no such field")
			continue
		}
		if editable != nil && !slices.Contains(editable, k) {
			r.add(p, "is not editable at this node")
			continue
		}
		if v := changes[k]; v == nil {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	if r.since(0) {
		return nil, r.err()
	}
	out := validateRecord(d.fields, d.fieldIndex, merged, fieldsPath, &r)
	if err := r.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Changed returns, in field order, the names of the fields whose values differ between two
// normalised value sets, counting a field present in only one of them.
func (d *Definition) Changed(before, after Values) []string {
	var out []string
	for _, f := range d.fields {
		a, inA := before[f.Name]
		b, inB := after[f.Name]
		if inA != inB {
			out = append(out, f.Name)
			continue
		}
		if !inA {
			continue
		}
		ja, errA := marshal(a)
		jb, errB := marshal(b)
		if errA != nil || errB != nil || !bytes.Equal(ja, jb) {
			out = append(out, f.Name)
		}
	}
	return out
}

func validateRecord(fields []Field, index map[string]int, in map[string]any, path string, r *report) Values {
	out := make(Values, len(fields))
	var unknown []string
	for k := range in {
		if _, ok := index[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		r.add(join(path, k), "no such field")
	}
	for i := range fields {
		f := &fields[i]
		p := join(path, f.Name)
		v, ok := in[f.Name]
		if !ok || v == nil {
			if f.Required {
				r.add(p, "is required")
			}
			continue
		}
		if nv, ok := normalize(f, v, p, r); ok {
			out[f.Name] = nv
		}
	}
	return out
}

func describeValue(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any, Values:
		return "an object"
	case []any, []string, []Values, []map[string]any, []Attachment:
		return "a list"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

func normalize(f *Field, v any, p string, r *report) (any, bool) {
	wrong := func(want string) (any, bool) {
		r.add(p, "want %s, got %s", want, describeValue(v))
		return nil, false
	}
	switch f.Type {
	case TypeText:
		s, ok := v.(string)
		if !ok {
			return wrong("a string")
		}
		return checkText(f, s, p, r)
	case TypeNumber:
		return checkNumber(f, v, p, r)
	case TypeMoney:
		return checkMoney(f, v, p, r)
	case TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return wrong("true or false")
		}
		return b, true
	case TypeDate:
		return checkDate(f, v, p, r)
	case TypeDateTime:
		return checkDateTime(f, v, p, r)
	case TypeEnum:
		s, ok := v.(string)
		if !ok {
			return wrong("a string")
		}
		if !f.hasOption(s) {
			r.add(p, "%q is not one of the allowed values", s)
			return nil, false
		}
		return s, true
	case TypeUser:
		s, ok := v.(string)
		if !ok {
			return wrong("a user id")
		}
		if msg := checkIdent(s); msg != "" {
			r.add(p, "user id %s", msg)
			return nil, false
		}
		return s, true
	case TypeUserList:
		return checkUsers(f, v, p, r)
	case TypeAttachment:
		return checkAttachment(v, p, r)
	case TypeAttachmentList:
		return checkAttachments(f, v, p, r)
	default:
		return checkTable(f, v, p, r)
	}
}

func checkText(f *Field, s, p string, r *report) (any, bool) {
	if !utf8.ValidString(s) {
		r.add(p, "must be valid UTF-8")
		return nil, false
	}
	if !domain.StorableText(s) {
		r.add(p, "must not contain the NUL character (U+0000)")
		return nil, false
	}
	if s == "" && f.Required {
		r.add(p, "is required")
		return nil, false
	}
	n := utf8.RuneCountInString(s)
	switch {
	case n < f.MinLength:
		r.add(p, "must be at least %d characters long", f.MinLength)
		return nil, false
	case n > f.maxLength():
		r.add(p, "must be at most %d characters long", f.maxLength())
		return nil, false
	case f.pattern != nil && !f.pattern.MatchString(s):
		r.add(p, "does not match the pattern %s", f.Pattern)
		return nil, false
	}
	return s, true
}

func numberOf(v any) (float64, string, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, string(x), err == nil
	case float64:
		return x, formatFloat(x), true
	case float32:
		return float64(x), formatFloat(float64(x)), true
	case int:
		return float64(x), strconv.Itoa(x), true
	case int64:
		return float64(x), strconv.FormatInt(x, 10), true
	case int32:
		return float64(x), strconv.FormatInt(int64(x), 10), true
	case uint64:
		return float64(x), strconv.FormatUint(x, 10), true
	case uint32:
		return float64(x), strconv.FormatUint(uint64(x), 10), true
	}
	return 0, "", false
}

// maxExactInteger is the largest integer every float64 below it represents exactly.
const maxExactInteger = 1 << 53

func checkNumber(f *Field, v any, p string, r *report) (any, bool) {
	x, _, ok := numberOf(v)
	if !ok || math.IsInf(x, 0) || math.IsNaN(x) {
		r.add(p, "want a finite number, got %s", describeValue(v))
		return nil, false
	}
	switch {
	case f.minNum != nil && x < *f.minNum:
		r.add(p, "must be ≥ %s", f.Min)
		return nil, false
	case f.maxNum != nil && x > *f.maxNum:
		r.add(p, "must be ≤ %s", f.Max)
		return nil, false
	}
	if !f.Integer {
		return x, true
	}
	if x != math.Trunc(x) || math.Abs(x) > maxExactInteger {
		r.add(p, "must be a whole number between -2^53 and 2^53")
		return nil, false
	}
	return int64(x), true
}

func checkMoney(f *Field, v any, p string, r *report) (any, bool) {
	var m Money
	var err error
	switch x := v.(type) {
	case string:
		m, err = ParseMoney(x, f.Scale)
	case json.Number:
		m, err = ParseMoney(string(x), f.Scale)
	case Money:
		m, err = newMoney(x.amount, f.Scale)
	default:
		fv, _, ok := numberOf(v)
		switch {
		case !ok:
			r.add(p, "want an amount such as \"199.00\", got %s", describeValue(v))
			return nil, false
		case math.IsInf(fv, 0) || math.IsNaN(fv):
			r.add(p, "want a finite amount")
			return nil, false
		}
		m, err = newMoney(decimal.NewFromFloat(fv), f.Scale)
	}
	if err != nil {
		r.add(p, "%v", err)
		return nil, false
	}
	switch {
	case f.minMoney != nil && m.amount.Cmp(*f.minMoney) < 0:
		r.add(p, "must be ≥ %s", f.Min)
		return nil, false
	case f.maxMoney != nil && m.amount.Cmp(*f.maxMoney) > 0:
		r.add(p, "must be ≤ %s", f.Max)
		return nil, false
	}
	return m, true
}

func checkTimeBounds(f *Field, t time.Time, p string, r *report) bool {
	switch {
	case f.minTime != nil && t.Before(*f.minTime):
		r.add(p, "must not be before %s", f.Min)
		return false
	case f.maxTime != nil && t.After(*f.maxTime):
		r.add(p, "must not be after %s", f.Max)
		return false
	}
	return true
}

func checkDate(f *Field, v any, p string, r *report) (any, bool) {
	var d Date
	switch x := v.(type) {
	case Date:
		d = x
		if DateOf(x.Time()) != x {
			r.add(p, "%d-%d-%d is not a calendar date", x.Year, x.Month, x.Day)
			return nil, false
		}
	case string:
		var err error
		if d, err = ParseDate(x); err != nil {
			r.add(p, "%v", err)
			return nil, false
		}
	default:
		r.add(p, "want a date \"YYYY-MM-DD\", got %s", describeValue(v))
		return nil, false
	}
	if !checkTimeBounds(f, d.Time(), p, r) {
		return nil, false
	}
	return d, true
}

func checkDateTime(f *Field, v any, p string, r *report) (any, bool) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		var err error
		if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
			r.add(p, "%q is not an RFC 3339 date-time", x)
			return nil, false
		}
	default:
		r.add(p, "want an RFC 3339 date-time, got %s", describeValue(v))
		return nil, false
	}
	if !checkTimeBounds(f, t, p, r) {
		return nil, false
	}
	return t, true
}

// listOf returns the elements of a list value, whatever its Go slice type.
func listOf(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	case []Attachment:
		out := make([]any, len(x))
		for i, a := range x {
			out[i] = a
		}
		return out, true
	case []Values:
		out := make([]any, len(x))
		for i, row := range x {
			out[i] = map[string]any(row)
		}
		return out, true
	case []map[string]any:
		out := make([]any, len(x))
		for i, row := range x {
			out[i] = row
		}
		return out, true
	}
	return nil, false
}

func checkCount(f *Field, n int, p string, r *report) bool {
	switch {
	case n == 0 && f.Required:
		r.add(p, "is required")
	case n < f.MinItems:
		r.add(p, "must hold at least %d entries", f.MinItems)
	case n > f.maxItems():
		r.add(p, "must hold at most %d entries", f.maxItems())
	default:
		return true
	}
	return false
}

func checkUsers(f *Field, v any, p string, r *report) (any, bool) {
	items, ok := listOf(v)
	if !ok {
		r.add(p, "want a list of user ids, got %s", describeValue(v))
		return nil, false
	}
	if !checkCount(f, len(items), p, r) {
		return nil, false
	}
	mark := r.mark()
	out := make([]string, 0, len(items))
	seen := map[string]bool{}
	for i, it := range items {
		ip := index(p, i)
		s, ok := it.(string)
		switch {
		case !ok:
			r.add(ip, "want a user id, got %s", describeValue(it))
		case checkIdent(s) != "":
			r.add(ip, "user id %s", checkIdent(s))
		case seen[s]:
			r.add(ip, "user %q is listed twice", s)
		default:
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, !r.since(mark)
}

func checkAttachments(f *Field, v any, p string, r *report) (any, bool) {
	items, ok := listOf(v)
	if !ok {
		r.add(p, "want a list of attachments, got %s", describeValue(v))
		return nil, false
	}
	if !checkCount(f, len(items), p, r) {
		return nil, false
	}
	mark := r.mark()
	out := make([]Attachment, 0, len(items))
	for i, it := range items {
		if a, ok := checkAttachment(it, index(p, i), r); ok {
			out = append(out, a.(Attachment))
		}
	}
	return out, !r.since(mark)
}

func checkAttachment(v any, p string, r *report) (any, bool) {
	var a Attachment
	mark := r.mark()
	switch x := v.(type) {
	case Attachment:
		a = x
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			kp := join(p, k)
			val := x[k]
			str := func() string {
				s, ok := val.(string)
				if !ok {
					r.add(kp, "want a string, got %s", describeValue(val))
				}
				return s
			}
			switch k {
			case "id":
				a.ID = str()
			case "name":
				a.Name = str()
			case "url":
				a.URL = str()
			case "sha256":
				a.SHA256 = str()
			case "content_type":
				a.ContentType = str()
			case "size":
				n, _, ok := numberOf(val)
				if !ok || n != math.Trunc(n) || n < 0 || n > maxExactInteger {
					r.add(kp, "want a whole number of bytes ≥ 0")
				}
				a.Size = int64(n)
			default:
				r.add(kp, "unknown key")
			}
		}
	default:
		r.add(p, "want an attachment object {id, name, url, size, sha256, content_type}, got %s", describeValue(v))
		return nil, false
	}
	if msg := checkIdent(a.ID); msg != "" {
		r.add(join(p, "id"), "%s", msg)
	}
	if strings.TrimSpace(a.Name) == "" || len(a.Name) > 255 || !domain.StorableText(a.Name) {
		r.add(join(p, "name"), "must be a non-empty name of at most 255 bytes, UTF-8 without the NUL character")
	}
	if a.URL != "" {
		u, err := url.Parse(a.URL)
		if err != nil || len(a.URL) > 2048 || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			r.add(join(p, "url"), "must be an absolute http or https URL of at most 2048 bytes")
		}
	}
	if a.SHA256 != "" {
		a.SHA256 = strings.ToLower(a.SHA256)
		if len(a.SHA256) != 64 || strings.Trim(a.SHA256, "0123456789abcdef") != "" {
			r.add(join(p, "sha256"), "must be 64 hexadecimal digits")
		}
	}
	if len(a.ContentType) > 255 || !domain.StorableText(a.ContentType) {
		r.add(join(p, "content_type"), "must be at most 255 bytes of UTF-8 without the NUL character")
	}
	if a.Size < 0 {
		r.add(join(p, "size"), "want a whole number of bytes ≥ 0")
	}
	if r.since(mark) {
		return nil, false
	}
	return a, true
}

func checkTable(f *Field, v any, p string, r *report) (any, bool) {
	items, ok := listOf(v)
	if !ok {
		r.add(p, "want a list of rows, got %s", describeValue(v))
		return nil, false
	}
	if !checkCount(f, len(items), p, r) {
		return nil, false
	}
	mark := r.mark()
	rows := make([]Values, 0, len(items))
	for i, it := range items {
		ip := index(p, i)
		var row map[string]any
		switch x := it.(type) {
		case map[string]any:
			row = x
		case Values:
			row = x
		default:
			r.add(ip, "want a row object, got %s", describeValue(it))
			continue
		}
		rows = append(rows, validateRecord(f.Columns, f.columns, row, ip, r))
	}
	return rows, !r.since(mark)
}
