package process

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// Money is an exact decimal amount carried at a fixed number of decimal places (its
// scale). The zero value is 0 at scale 0. Money values are comparable with Cmp; in
// conditions they compare and add exactly with each other and with number literals.
type Money struct {
	amount decimal.Decimal
	scale  int32
}

var moneyText = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)

// ParseMoney parses a plain decimal such as "199.00", "-3" or "0.5" (no exponent, no
// grouping) and carries it at scale decimal places. It returns an error when s is not
// such a decimal, has more than scale decimal places, or more than LimitIntegerDigits
// digits before the point.
func ParseMoney(s string, scale int) (Money, error) {
	if len(s) > LimitIntegerDigits+LimitScale+3 || !moneyText.MatchString(s) {
		return Money{}, fmt.Errorf("%q is not a decimal amount such as \"199.00\"", s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Money{}, fmt.Errorf("%q is not a decimal amount such as \"199.00\"", s)
	}
	return newMoney(d, scale)
}

func newMoney(d decimal.Decimal, scale int) (Money, error) {
	if scale < 0 || scale > LimitScale {
		return Money{}, fmt.Errorf("scale %d is outside 0..%d", scale, LimitScale)
	}
	if !d.Equal(d.Truncate(int32(scale))) {
		return Money{}, fmt.Errorf("%s has more than %d decimal places", d.String(), scale)
	}
	if d.Abs().Cmp(decimal.New(1, LimitIntegerDigits)) >= 0 {
		return Money{}, fmt.Errorf("%s has more than %d digits before the decimal point", d.String(), LimitIntegerDigits)
	}
	return Money{amount: d.Truncate(int32(scale)), scale: int32(scale)}, nil
}

// Decimal returns the amount.
func (m Money) Decimal() decimal.Decimal { return m.amount }

// Scale returns the number of decimal places the amount is carried at.
func (m Money) Scale() int { return int(m.scale) }

// Cmp returns -1, 0 or +1 as m is less than, equal to or greater than o.
func (m Money) Cmp(o Money) int { return m.amount.Cmp(o.amount) }

// String returns the amount with exactly Scale decimal places, e.g. "199.00".
func (m Money) String() string { return m.amount.StringFixed(m.scale) }

// MarshalJSON encodes the amount as a JSON string, e.g. "199.00".
func (m Money) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// Date is a calendar date without a time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || len(s) != len(time.DateOnly) {
		return Date{}, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf returns the calendar date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// Time returns midnight UTC at the start of the date.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String returns the date as "YYYY-MM-DD".
func (d Date) String() string { return d.Time().Format(time.DateOnly) }

// MarshalJSON encodes the date as a JSON string "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Attachment refers to a file kept by the business system. In a submission it is a JSON
// object: "id" and "name" are required; "url" (absolute http or https), "size" (bytes,
// ≥ 0), "sha256" (64 hex digits, normalised to lower case) and "content_type" are
// optional; other keys are errors.
type Attachment struct {
	ID          string `json:"id" expr:"id"`
	Name        string `json:"name" expr:"name"`
	URL         string `json:"url,omitempty" expr:"url"`
	Size        int64  `json:"size,omitempty" expr:"size"`
	SHA256      string `json:"sha256,omitempty" expr:"sha256"`
	ContentType string `json:"content_type,omitempty" expr:"content_type"`
}

// Values is a normalised set of field values, keyed by field name, as returned by
// ValidateFields: each value has the Go type documented for its FieldType, absent
// optional fields have no key, and table rows are Values of their own. Values encode to
// JSON in the submission format, so that json.Marshal followed by DecodeJSON and
// ValidateFields reproduces them.
type Values map[string]any

// Clone returns a copy of v that shares no maps or slices with it.
func (v Values) Clone() Values {
	if v == nil {
		return nil
	}
	out := make(Values, len(v))
	for k, x := range v {
		out[k] = cloneValue(x)
	}
	return out
}

func cloneValue(x any) any {
	switch t := x.(type) {
	case []string:
		return append([]string(nil), t...)
	case []Attachment:
		return append([]Attachment(nil), t...)
	case []Values:
		rows := make([]Values, len(t))
		for i, r := range t {
			rows[i] = r.Clone()
		}
		return rows
	case Values:
		return t.Clone()
	default:
		return x
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
