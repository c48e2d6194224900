package process

import (
	"regexp"
	"time"

	"github.com/shopspring/decimal"
)

// FieldType is the type of a field: what a submission may hold in it and the Go type of
// its normalised value in Values.
type FieldType string

// The field types. The Go type of a normalised value is given for each.
const (
	// TypeText is a string of valid UTF-8 (string), limited by min_length, max_length (in
	// characters, DefaultMaxLength when absent) and an optional RE2 pattern that must
	// match the whole value.
	TypeText FieldType = "text"
	// TypeNumber is a JSON number (float64; int64 when the field sets integer: true),
	// limited by min and max.
	TypeNumber FieldType = "number"
	// TypeMoney is an exact decimal amount (Money) in the field's currency, given as a
	// string such as "199.00" (a JSON number is accepted too) with at most the field's
	// scale of decimal places; limited by min and max.
	TypeMoney FieldType = "money"
	// TypeBoolean is true or false (bool).
	TypeBoolean FieldType = "boolean"
	// TypeDate is a calendar date "YYYY-MM-DD" (Date), limited by min and max.
	TypeDate FieldType = "date"
	// TypeDateTime is an RFC 3339 timestamp (time.Time, offset kept), limited by min and
	// max.
	TypeDateTime FieldType = "datetime"
	// TypeEnum is one of the field's listed values (string).
	TypeEnum FieldType = "enum"
	// TypeUser is a principal id (string).
	TypeUser FieldType = "user"
	// TypeUserList is a list of distinct principal ids ([]string), limited by min_items
	// and max_items (DefaultMaxItems when absent).
	TypeUserList FieldType = "user_list"
	// TypeAttachment is a reference to a file the business system stores (Attachment).
	TypeAttachment FieldType = "attachment"
	// TypeAttachmentList is a list of attachment references ([]Attachment), limited by
	// min_items and max_items (DefaultMaxItems when absent).
	TypeAttachmentList FieldType = "attachment_list"
	// TypeTable is a list of rows ([]Values), each an object validated against the
	// table's columns, limited by min_rows and max_rows (DefaultMaxRows when absent).
	// Columns may have any type but table.
	TypeTable FieldType = "table"
)

// Limits that apply when a definition does not set its own, and the largest it may set.
const (
	DefaultMaxLength = 4000
	LimitMaxLength   = 1 << 20
	DefaultMaxItems  = 100
	LimitMaxItems    = 1000
	DefaultMaxRows   = 500
	LimitMaxRows     = 10000
	DefaultScale     = 2
	LimitScale       = 8
	// LimitIntegerDigits is the most digits a money amount may have before its decimal
	// point.
	LimitIntegerDigits = 18
)

var fieldTypes = []FieldType{
	TypeText, TypeNumber, TypeMoney, TypeBoolean, TypeDate, TypeDateTime, TypeEnum,
	TypeUser, TypeUserList, TypeAttachment, TypeAttachmentList, TypeTable,
}

func (t FieldType) known() bool {
	for _, k := range fieldTypes {
		if t == k {
			return true
		}
	}
	return false
}

func (t FieldType) isList() bool { return t == TypeUserList || t == TypeAttachmentList }

// Option is one allowed value of an enum field, with an optional display label.
type Option struct {
	Value string
	Label string
}

// Field describes one business field of a process, or one column of a table field.
// Fields returned by a Definition are copies; their slices must not be modified.
type Field struct {
	// Name identifies the field in submissions, conditions and node visibility.
	Name        string
	Type        FieldType
	Label       string
	Description string
	// Required fields must be present and non-empty in every submission.
	Required bool

	// MinLength and MaxLength bound a text's length in characters; MaxLength 0 means
	// DefaultMaxLength. Pattern, when set, must match the whole text.
	MinLength int
	MaxLength int
	Pattern   string

	// Min and Max bound number, money, date and datetime values, in the canonical text of
	// the type ("1000", "0.01", "2024-01-31", "2024-01-31T00:00:00Z"); empty means
	// unbounded.
	Min string
	Max string
	// Integer restricts a number field to whole numbers.
	Integer bool

	// Currency is the ISO 4217 code of a money field (may be empty); Scale is the number
	// of decimal places its amounts carry (DefaultScale unless set).
	Currency string
	Scale    int

	// Options lists an enum field's allowed values, in order.
	Options []Option

	// MinItems and MaxItems bound the number of entries of a list (min_items, max_items)
	// or the rows of a table (min_rows, max_rows); MaxItems 0 means the type's default.
	MinItems int
	MaxItems int

	// Columns are a table's column fields, in order.
	Columns []Field

	pattern  *regexp.Regexp
	minNum   *float64
	maxNum   *float64
	minMoney *decimal.Decimal
	maxMoney *decimal.Decimal
	minTime  *time.Time
	maxTime  *time.Time
	columns  map[string]int
}

func (f *Field) maxLength() int {
	if f.MaxLength > 0 {
		return f.MaxLength
	}
	return DefaultMaxLength
}

func (f *Field) maxItems() int {
	switch {
	case f.MaxItems > 0:
		return f.MaxItems
	case f.Type == TypeTable:
		return DefaultMaxRows
	default:
		return DefaultMaxItems
	}
}

func (f *Field) hasOption(v string) bool {
	for _, o := range f.Options {
		if o.Value == v {
			return true
		}
	}
	return false
}
