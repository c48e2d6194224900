// Package process holds process definitions: the business fields a ticket carries, the
// ordered approval nodes it passes through, who handles each node and what each handler
// may see and change. It is pure: no I/O, no clock, no randomness.
//
// # Definitions
//
// A definition is written in YAML or JSON (any JSON document is read as YAML) and read by
// Parse, strictly: unknown keys, duplicate keys, YAML aliases and merge keys are errors.
// Parse validates the whole document and returns every problem at once in a Problems
// error, each with the path of the bad element ("nodes[2].handlers[0].field",
// "fields.amount.max"). The format is shown in Parse's documentation; the files in
// examples/ (Example, Examples) are complete definitions of the refund and data-conflict
// processes. A document carries no version: publication assigns it.
//
// Fields are typed (see FieldType). Money is exact: amounts are decimals carried at the
// field's scale and written as strings such as "199.00". Attachments are objects
// {id, name, url, size, sha256, content_type} naming a file the business system keeps;
// the ticket system stores references, never files. ValidateFields checks a submission
// against the fields and returns normalised Values; ValidateChanges and
// ValidateNodeChanges check a partial change (a resubmission, or an edit by a node's
// handler restricted to the node's editable fields).
//
// # Nodes and routing
//
// Nodes run in document order. A node's handlers come from explicit users, roles, groups,
// a user or user_list field of the ticket, the submitter, or approvers the submitter picks
// when submitting; its mode is one_of (或签), all_of (会签) or sequential. A node may have a
// condition; Route evaluates the conditions on a ticket's values and submitter and
// resolves handlers and CC recipients through a Directory the caller supplies, giving a
// Plan. The ticket decider and a "simulate" endpoint both call Route.
//
// A node sees every field unless its definition lists visible fields; it may edit only
// the fields listed as editable, which must be visible. Project returns the values a
// node's handlers may see. A rejection ends the ticket or returns it to an earlier node.
//
// # Conditions
//
// Conditions are expr expressions (github.com/expr-lang/expr) compiled by Parse against
// the field schema, so unknown names, type errors and non-boolean results are reported at
// publication. Each field is a variable typed after it: text, enum and user are strings;
// number is float64 (int when integer); boolean is bool; date and datetime are time.Time
// (a date is midnight UTC); user_list is a list of strings; attachment has members id,
// name, url, size, sha256 and content_type; a table is a list of rows whose members are
// the columns. Money stays exact: comparisons (< <= > >= == !=), + and - between amounts
// and numbers, and * by a number are overloaded on Money, so "amount > 1000" and
// "amount >= 1000.10" compare decimals, not floats. An absent optional field holds its
// type's zero value. The variable submitter has members id, department, roles, groups
// and attrs, e.g. `submitter.department == "sales"` or `"vip" in submitter.roles`.
// date("2024-01-31") gives a time to compare with; now, timezone and repeat are not
// available, and a field named like a function (count, date...) hides it. Cost is
// bounded: a condition is at most MaxConditionLength bytes and MaxConditionNodes syntax
// nodes, predicates (any, all, filter, map...) must not be nested, so a condition runs in
// time linear in the ticket's size, and evaluation stays within expr's memory budget.
//
// # Publication
//
// The versions of a process are events on the stream "process-<key>" (StreamName):
// Published, carrying the canonical document and its assigned version, and Retired.
// Decide and Evolve form the stream's decider: publishing assigns the next version,
// rejects an invalid definition, and publishing a document identical to the latest
// version does nothing. EncodeEvent and DecodeEvent map the closed event set to and from
// type names and JSON.
package process
