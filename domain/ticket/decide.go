package ticket

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ticketledger/ticketledger/domain"
)

// MaxCommentLength is the longest comment, reason or detail accepted, in characters.
const MaxCommentLength = 4000

// Decide returns the events cmd produces on s, or a *domain.Error saying why it is
// refused. A command that would change nothing returns no events and no error.
//
// Refusals: Invalid for malformed commands and fields; Forbidden when the actor may not
// do this (not a current handler nor their active delegate, not the submitter, not the
// owning system); NotFound for a ticket that does not exist; Conflict when the ticket's
// state does not allow it (closed, not returned, urged too recently...).
func Decide(s State, cmd Command) ([]Event, error) {
	b := &builder{s: s}
	var err error
	switch c := cmd.(type) {
	case Submit:
		err = b.submit(c)
	case Resubmit:
		err = b.resubmit(c)
	case Approve:
		err = b.approve(c)
	case Reject:
		err = b.reject(c)
	case Return:
		err = b.returnTask(c)
	case Withdraw:
		err = b.withdraw(c)
	case Transfer:
		err = b.transfer(c)
	case Handover:
		err = b.handover(c)
	case AddSigner:
		err = b.addSigner(c)
	case Comment:
		err = b.comment(c)
	case CC:
		err = b.cc(c)
	case Urge:
		err = b.urge(c)
	case Remind:
		err = b.remind(c)
	case ReportExecution:
		err = b.report(c)
	default:
		err = domain.Errorf(domain.Invalid, "unknown-command", "unknown ticket command %T", cmd)
	}
	if err != nil {
		return nil, err
	}
	return b.events, nil
}

// builder accumulates events, folding each into its state as it goes.
type builder struct {
	s      State
	events []Event
}

func (b *builder) emit(e Event) {
	b.events = append(b.events, e)
	b.s = Evolve(b.s, e)
}

// actAs checks the actor's delegation and returns the principal they act as.
func (b *builder) actAs(a Actor, at time.Time) (string, error) {
	if a.ID == "" {
		return "", domain.Errorf(domain.Unauthenticated, "no-actor", "the command names no actor")
	}
	if a.OnBehalfOf == "" || a.OnBehalfOf == a.ID {
		return a.ID, nil
	}
	if _, ok := a.Grants.Active(a.ID, b.s.ProcessKey, at); !ok {
		return "", domain.Errorf(domain.Forbidden, "no-delegation",
			"%s holds no delegation from %s for process %s at %s", a.ID, a.OnBehalfOf, b.s.ProcessKey, at.UTC().Format(time.RFC3339))
	}
	return a.OnBehalfOf, nil
}

func (b *builder) mustExist() error {
	if b.s.Status == StatusNone {
		return domain.Errorf(domain.NotFound, "no-such-ticket", "the ticket does not exist")
	}
	return nil
}

func (b *builder) mustBeOpen() error {
	if err := b.mustExist(); err != nil {
		return err
	}
	if b.s.Status.Final() {
		return domain.Errorf(domain.Conflict, "ticket-closed", "the ticket is already %s", b.s.Status)
	}
	return nil
}

func checkText(field, text string, required bool) error {
	if required && text == "" {
		return domain.FieldError("required", field, "must not be empty")
	}
	if !domain.StorableText(text) {
		return domain.FieldError("invalid-text", field, "must be UTF-8 text without the NUL character (U+0000)")
	}
	if utf8.RuneCountInString(text) > MaxCommentLength {
		return domain.FieldError("too-long", field, "must be at most %d characters", MaxCommentLength)
	}
	return nil
}

// invalidFields wraps a validation error of the definition as an Invalid domain error.
func invalidFields(err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	return &domain.Error{Kind: domain.Invalid, Code: "invalid-fields", Message: err.Error(), Cause: err}
}

func (b *builder) submit(c Submit) error {
	if c.TicketID == "" {
		return domain.FieldError("required", "ticket_id", "a ticket needs an id")
	}
	if c.Definition == nil {
		return domain.Errorf(domain.Invalid, "no-definition", "no process definition given")
	}
	if c.Submitter.ID == "" {
		return domain.FieldError("required", "submitter", "a ticket needs a submitter")
	}
	if err := errors.Join(checkText("title", c.Title, false)); err != nil {
		return err
	}
	if c.By.ID == "" {
		return domain.Errorf(domain.Unauthenticated, "no-actor", "the command names no actor")
	}
	if c.By.System == "" && c.Submitter.ID != c.By.ID {
		return domain.Errorf(domain.Forbidden, "submit-for-other", "%s may only submit tickets as themselves", c.By.ID)
	}
	// The ticket belongs to the process's system, whose endpoints receive its outcome: a
	// user's own submission too, and only that system's client may submit.
	system := c.By.System
	if ps := c.Definition.System(); ps != "" {
		if system != "" && system != ps {
			return domain.Errorf(domain.Forbidden, "wrong-system",
				"%s speaks for system %s; process %s takes tickets of system %s", c.By.ID, system, c.Definition.Key(), ps)
		}
		system = ps
	}
	fields, err := c.Definition.ValidateFields(c.Fields)
	if err != nil {
		return invalidFields(err)
	}
	if b.s.Status != StatusNone {
		if b.s.BusinessKey == c.BusinessKey && b.s.ProcessKey == c.Definition.Key() && b.s.Submitter == c.Submitter.ID &&
			b.s.Title == c.Title && equalFields(b.s.Fields, fields) {
			return nil
		}
		return domain.Errorf(domain.Conflict, "already-submitted", "ticket %s already exists with other content", c.TicketID)
	}
	route, err := c.Definition.Route(fields, c.Submitter)
	if err != nil {
		return invalidFields(err)
	}
	if err := checkRoute(route); err != nil {
		return err
	}
	watchers := uniqueSorted(append(slices.Clone(c.Watchers), c.Submitter.ID))
	var dueAt, remindAt time.Time
	if due, remind := c.Definition.TicketSLA(); due > 0 {
		dueAt = c.At.Add(due)
		if remind > 0 {
			remindAt = dueAt.Add(-remind)
		}
	}
	b.emit(&Submitted{
		TicketID: c.TicketID, ProcessKey: c.Definition.Key(), ProcessVersion: c.Definition.Version(),
		System: system, BusinessKey: c.BusinessKey, Submitter: c.Submitter.ID, Title: c.Title,
		Fields: fields, Route: route, Picked: clonePicks(c.Submitter.Picked), Watchers: watchers, CC: uniqueSorted(c.CC),
		DueAt: dueAt, RemindAt: remindAt, At: c.At,
	})
	b.activate(0, c.By.ID, c.At)
	return nil
}

// checkRoute refuses a planned route with a node nobody can handle.
func checkRoute(route []Node) error {
	for i, n := range route {
		if len(n.Handlers) == 0 {
			return domain.Errorf(domain.Invalid, "no-handlers", "node %s (route[%d]) has no handler", n.Key, i)
		}
	}
	return nil
}

// activate makes route[index] current, or approves the ticket when the route is done.
func (b *builder) activate(index int, by string, at time.Time) {
	if index >= len(b.s.Route) {
		b.emit(&Approved{At: at})
		return
	}
	n := b.s.Route[index]
	act := b.s.Activation + 1
	tasks := make([]Task, 0, len(n.Handlers))
	for i, h := range uniqueInOrder(n.Handlers) {
		st := TaskPending
		if n.Mode == Sequential && i > 0 {
			st = TaskWaiting
		}
		tasks = append(tasks, Task{ID: taskID(act, i), Assignee: h, Status: st})
	}
	e := &NodeActivated{Activation: act, Index: index, Node: n.Key, Tasks: tasks, At: at}
	if n.DueAfter > 0 {
		e.DueAt = at.Add(n.DueAfter)
		if n.RemindBefore > 0 && n.RemindBefore < n.DueAfter {
			e.RemindAt = e.DueAt.Add(-n.RemindBefore)
		}
	}
	b.emit(e)
	var cc []string
	for _, u := range uniqueSorted(n.CC) {
		if !slices.Contains(b.s.CC, u) {
			cc = append(cc, u)
		}
	}
	if len(cc) > 0 {
		b.emit(&CCAdded{By: by, Node: n.Key, Users: cc, At: at})
	}
}

func taskID(activation, i int) string {
	return strconv.Itoa(activation) + "." + strconv.Itoa(i+1)
}

// task finds the actor's pending task in the active node; taskID, when given, must name it.
func (b *builder) task(a Actor, taskID string, at time.Time) (Task, string, error) {
	if err := b.mustBeOpen(); err != nil {
		return Task{}, "", err
	}
	principal, err := b.actAs(a, at)
	if err != nil {
		return Task{}, "", err
	}
	n, ok := b.s.CurrentNode()
	if !ok {
		return Task{}, "", domain.Errorf(domain.Conflict, "no-active-node", "the ticket is waiting for its submitter, not for a handler")
	}
	for _, t := range b.s.Tasks {
		if t.Assignee != principal || t.Status != TaskPending {
			continue
		}
		if taskID == "" || taskID == t.ID {
			return t, principal, nil
		}
	}
	if taskID != "" {
		for _, t := range b.s.Tasks {
			if t.ID == taskID && t.Status != TaskPending {
				return Task{}, "", domain.Errorf(domain.Conflict, "task-closed", "task %s is already %s", t.ID, t.Status)
			}
		}
	}
	for _, t := range b.s.Tasks {
		if t.Assignee == principal && t.Status == TaskWaiting {
			return Task{}, "", domain.Errorf(domain.Conflict, "not-your-turn", "%s decides at node %s after the handlers before them", principal, n.Key)
		}
	}
	if slices.Contains(b.s.Handled, principal) {
		return Task{}, "", domain.Errorf(domain.Conflict, "task-closed", "%s has no pending task at node %s any more: it was decided or closed", principal, n.Key)
	}
	return Task{}, "", domain.Errorf(domain.Forbidden, "not-a-handler", "%s has no pending task at node %s", principal, n.Key)
}

func (b *builder) decision(t Task, a Actor, comment string, at time.Time) Decision {
	n, _ := b.s.CurrentNode()
	return Decision{Node: n.Key, TaskID: t.ID, Assignee: t.Assignee, By: a.ID, Comment: comment,
		ShownFields: ShownFieldsHash(b.s.Fields, n), At: at}
}

// ShownFieldsHash is the SHA-256, in hex, of the canonical JSON (keys sorted, values
// compact) of exactly the fields node n shows.
func ShownFieldsHash(f Fields, n Node) string {
	shown := f.Only(n)
	keys := slices.Sorted(maps.Keys(shown))
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		if err := json.Compact(&buf, shown[k]); err != nil {
			buf.Write(shown[k])
		}
	}
	buf.WriteByte('}')
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

func (b *builder) approve(c Approve) error {
	t, _, err := b.task(c.By, c.TaskID, c.At)
	if err != nil {
		return err
	}
	if err := checkText("comment", c.Comment, false); err != nil {
		return err
	}
	n, _ := b.s.CurrentNode()
	var changes Fields
	if len(bytes.TrimSpace(c.Changes)) > 0 && !bytes.Equal(bytes.TrimSpace(c.Changes), []byte("null")) {
		if changes, err = b.changes(c.Definition, c.Changes, n.Editable, false, "changes"); err != nil {
			return err
		}
	}
	b.emit(&TaskApproval{Decision: b.decision(t, c.By, c.Comment, c.At), Changes: changes})
	if b.nodeDone() {
		index := b.s.Current
		b.emit(&NodeCompleted{Node: n.Key, Outcome: "approved", At: c.At})
		b.activate(index+1, c.By.ID, c.At)
	}
	return nil
}

// changes validates edits to the fields editable lists (any field when anyField is set:
// the submitter's, on resubmitting), merged into the current fields, and returns the
// fields whose normalised value changed. An empty or nil editable allows none.
func (b *builder) changes(def Definition, raw json.RawMessage, editable []string, anyField bool, path string) (Fields, error) {
	var proposed map[string]json.RawMessage
	if err := json.Unmarshal(raw, &proposed); err != nil {
		return nil, domain.FieldError("not-an-object", path, "must be a JSON object of field values")
	}
	if def == nil {
		return nil, domain.Errorf(domain.Invalid, "no-definition", "no process definition given to validate the changes")
	}
	for _, k := range slices.Sorted(maps.Keys(proposed)) {
		if !anyField && !slices.Contains(editable, k) {
			return nil, domain.FieldError("not-editable", path+"."+k, "this node may not change field %s", k)
		}
	}
	merged := b.s.Fields.clone()
	maps.Copy(merged, proposed)
	for k, v := range merged {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(merged, k)
		}
	}
	whole, err := json.Marshal(merged)
	if err != nil {
		return nil, domain.FieldError("invalid", path, "cannot encode the fields: %v", err)
	}
	valid, err := def.ValidateFields(whole)
	if err != nil {
		return nil, invalidFields(err)
	}
	out := make(Fields)
	for k, v := range valid {
		if old, ok := b.s.Fields[k]; !ok || !bytes.Equal(old, v) {
			out[k] = v
		}
	}
	for k := range b.s.Fields {
		if _, ok := valid[k]; !ok {
			out[k] = json.RawMessage("null")
		}
	}
	return out, nil
}

// nodeDone reports whether the active node's decision is complete after an approval.
func (b *builder) nodeDone() bool {
	n, _ := b.s.CurrentNode()
	approved, open := 0, 0
	for _, t := range b.s.Tasks {
		switch t.Status {
		case TaskApproved:
			approved++
		case TaskPending, TaskWaiting:
			open++
		}
	}
	if n.Mode == OneOf {
		return approved > 0
	}
	return open == 0
}

func (b *builder) reject(c Reject) error {
	t, _, err := b.task(c.By, c.TaskID, c.At)
	if err != nil {
		return err
	}
	if err := checkText("comment", c.Comment, false); err != nil {
		return err
	}
	n, _ := b.s.CurrentNode()
	b.emit(&TaskRejection{Decision: b.decision(t, c.By, c.Comment, c.At)})
	b.emit(&NodeCompleted{Node: n.Key, Outcome: "rejected", At: c.At})
	if n.RejectTo == "" {
		b.emit(&Rejected{Node: n.Key, By: c.By.ID, At: c.At})
		return nil
	}
	target := slices.IndexFunc(b.s.Route, func(m Node) bool { return m.Key == n.RejectTo })
	if target < 0 {
		b.emit(&Rejected{Node: n.Key, By: c.By.ID, At: c.At})
		return nil
	}
	b.activate(target, c.By.ID, c.At)
	return nil
}

func (b *builder) returnTask(c Return) error {
	t, _, err := b.task(c.By, c.TaskID, c.At)
	if err != nil {
		return err
	}
	if err := checkText("comment", c.Comment, false); err != nil {
		return err
	}
	current := b.s.Current
	to, target := c.To, -1
	switch {
	case to == "" && current == 0, to == ToSubmitter:
		to = ToSubmitter
	case to == "":
		target = current - 1
		to = b.s.Route[target].Key
	default:
		target = slices.IndexFunc(b.s.Route[:current], func(m Node) bool { return m.Key == to })
		if target < 0 {
			return domain.FieldError("not-an-earlier-node", "to", "%q is not a node before %s", to, b.s.Route[current].Key)
		}
	}
	b.emit(&Returned{Decision: b.decision(t, c.By, c.Comment, c.At), To: to})
	if target >= 0 {
		b.activate(target, c.By.ID, c.At)
	}
	return nil
}

func (b *builder) resubmit(c Resubmit) error {
	if err := b.mustBeOpen(); err != nil {
		return err
	}
	principal, err := b.actAs(c.By, c.At)
	if err != nil {
		return err
	}
	if principal != b.s.Submitter && c.By.System != b.s.System {
		return domain.Errorf(domain.Forbidden, "not-submitter", "only the submitter %s may resubmit", b.s.Submitter)
	}
	if b.s.Status != StatusReturned {
		return domain.Errorf(domain.Conflict, "not-returned", "only a ticket returned to its submitter can be resubmitted")
	}
	if err := checkText("comment", c.Comment, false); err != nil {
		return err
	}
	if c.Definition == nil {
		return domain.Errorf(domain.Invalid, "no-definition", "no process definition given")
	}
	changed := Fields{}
	if len(bytes.TrimSpace(c.Changes)) > 0 {
		if changed, err = b.changes(c.Definition, c.Changes, nil, true, "fields"); err != nil {
			return err
		}
	}
	fields := b.s.Fields.merge(changed)
	// Picks given now replace the earlier ones of their nodes; the others stand.
	submitter := Submitter{ID: b.s.Submitter, Picked: clonePicks(b.s.Picked)}
	for node, ids := range c.Submitter.Picked {
		if submitter.Picked == nil {
			submitter.Picked = map[string][]string{}
		}
		submitter.Picked[node] = slices.Clone(ids)
	}
	route, err := c.Definition.Route(fields, submitter)
	if err != nil {
		return invalidFields(err)
	}
	if err := checkRoute(route); err != nil {
		return err
	}
	b.emit(&Resubmitted{By: c.By.ID, Changed: slices.Sorted(maps.Keys(changed)), Fields: fields, Route: route, Picked: submitter.Picked,
		Comment: c.Comment, At: c.At})
	b.activate(0, c.By.ID, c.At)
	return nil
}

func (b *builder) withdraw(c Withdraw) error {
	if err := b.mustBeOpen(); err != nil {
		return err
	}
	principal, err := b.actAs(c.By, c.At)
	if err != nil {
		return err
	}
	if principal != b.s.Submitter && (b.s.System == "" || c.By.System != b.s.System) {
		return domain.Errorf(domain.Forbidden, "not-submitter", "only the submitter %s may withdraw the ticket", b.s.Submitter)
	}
	if err := checkText("reason", c.Reason, false); err != nil {
		return err
	}
	b.emit(&Withdrawn{By: c.By.ID, Reason: c.Reason, At: c.At})
	return nil
}

func (b *builder) transfer(c Transfer) error {
	t, principal, reassign, err := b.transferredTask(c)
	if err != nil {
		return err
	}
	switch {
	case c.To == "":
		return domain.FieldError("required", "to", "name the user to transfer the task to")
	case c.To == principal:
		return domain.FieldError("self-transfer", "to", "the task is already %s's", principal)
	case slices.ContainsFunc(b.s.Tasks, func(t Task) bool {
		return t.Assignee == c.To && (t.Status == TaskPending || t.Status == TaskWaiting)
	}):
		// A sequential node's later turn counts: the node would have one person sign twice.
		return domain.FieldError("already-handler", "to", "%s already holds a task at this node", c.To)
	}
	if err := checkText("comment", c.Comment, false); err != nil {
		return err
	}
	b.transferTask(t.ID, t.Assignee, c.By.ID, c.To, c.Comment, reassign, c.At)
	return nil
}

// transferTask closes the active node's task id of assignee and opens one for to in its
// place (reassigned: by an admin who did not hold it).
func (b *builder) transferTask(id, assignee, by, to, comment string, reassigned bool, at time.Time) {
	n, _ := b.s.CurrentNode()
	b.emit(&TaskTransfer{Node: n.Key, TaskID: id, NewTask: taskID(b.s.Activation, len(b.s.Tasks)),
		Assignee: assignee, By: by, To: to, Comment: comment, Reassigned: reassigned, At: at})
}

// transferredTask finds the task a transfer hands on and whose it is: the actor's own (or
// their principal's, for a delegate), or, for an admin acting as themselves, any pending
// task of the active node named by its id (reassign). An admin who names no task and
// holds none, or names one the node does not have, is told which tasks they could name.
func (b *builder) transferredTask(c Transfer) (t Task, principal string, reassign bool, err error) {
	if c.By.Admin && (c.By.OnBehalfOf == "" || c.By.OnBehalfOf == c.By.ID) && b.mustBeOpen() == nil {
		if n, ok := b.s.CurrentNode(); ok {
			var held []string
			known := false
			for _, t := range b.s.Tasks {
				known = known || t.ID == c.TaskID
				if t.Status != TaskPending || t.Assignee == c.By.ID {
					continue
				}
				if t.ID == c.TaskID {
					return t, t.Assignee, true, nil
				}
				held = append(held, t.ID+" ("+t.Assignee+")")
			}
			mine := slices.Contains(b.s.PendingHandlers(), c.By.ID)
			switch {
			case c.TaskID == "" && !mine && len(held) > 0:
				return Task{}, "", false, domain.FieldError("required", "task_id",
					"%s holds no task at node %s; to reassign one as an admin, name it: %s", c.By.ID, n.Key, strings.Join(held, ", "))
			case c.TaskID != "" && !known && len(held) > 0:
				return Task{}, "", false, domain.FieldError("no-such-task", "task_id",
					"node %s has no task %s; its pending tasks: %s", n.Key, c.TaskID, strings.Join(held, ", "))
			}
		}
	}
	t, principal, err = b.task(c.By, c.TaskID, c.At)
	return t, principal, false, err
}

func (b *builder) handover(c Handover) error {
	if !c.By.Admin || (c.By.OnBehalfOf != "" && c.By.OnBehalfOf != c.By.ID) {
		return domain.Errorf(domain.Forbidden, "not-admin", "only an admin hands over another user's work")
	}
	if err := b.mustBeOpen(); err != nil {
		return err
	}
	switch {
	case c.From == "":
		return domain.FieldError("required", "from", "name the user whose work is handed over")
	case c.To == "":
		return domain.FieldError("required", "to", "name the user who takes the work over")
	case c.To == c.From:
		return domain.FieldError("self-transfer", "to", "%s's work cannot be handed over to %s", c.From, c.To)
	}
	if err := checkText("comment", c.Comment, false); err != nil {
		return err
	}
	var held, waiting []string
	toHolds := false
	for _, t := range b.s.Tasks {
		switch {
		case t.Status != TaskPending && t.Status != TaskWaiting:
		case t.Assignee == c.To:
			toHolds = true
		case t.Assignee == c.From && t.Status == TaskPending:
			held = append(held, t.ID)
		case t.Assignee == c.From:
			waiting = append(waiting, t.ID)
		}
	}
	if toHolds && len(held)+len(waiting) > 0 {
		n, _ := b.s.CurrentNode()
		return domain.FieldError("already-handler", "to", "%s already holds a task at node %s beside %s's", c.To, n.Key, c.From)
	}
	var nodes []string
	for _, n := range b.s.Route {
		if slices.Contains(n.Handlers, c.From) {
			nodes = append(nodes, n.Key)
		}
	}
	if len(held)+len(waiting)+len(nodes) == 0 {
		return domain.Errorf(domain.Conflict, "nothing-to-hand-over", "%s holds no task and handles no node of the ticket", c.From)
	}
	for _, id := range held {
		b.transferTask(id, c.From, c.By.ID, c.To, c.Comment, true, c.At)
	}
	if len(waiting)+len(nodes) > 0 {
		b.emit(&HandlerReplaced{From: c.From, To: c.To, Nodes: nodes, Tasks: waiting, By: c.By.ID, Comment: c.Comment, At: c.At})
	}
	return nil
}

func (b *builder) addSigner(c AddSigner) error {
	_, principal, err := b.task(c.By, c.TaskID, c.At)
	if err != nil {
		return err
	}
	switch {
	case c.Signer == "":
		return domain.FieldError("required", "signer", "name the signer to add")
	case c.Signer == principal:
		return domain.FieldError("self-signer", "signer", "%s cannot add themselves as a signer", principal)
	case c.Where != Before && c.Where != After:
		return domain.FieldError("invalid", "where", "must be %q or %q", Before, After)
	}
	if err := checkText("comment", c.Comment, false); err != nil {
		return err
	}
	n, _ := b.s.CurrentNode()
	index := b.s.Current
	if c.Where == After {
		index++
	}
	added := Node{
		Key:  fmt.Sprintf("%s+%s-%d", n.Key, c.Where, len(b.s.Route)+1),
		Name: n.Name, Mode: OneOf, Handlers: []string{c.Signer}, Visible: n.Visible,
		DueAfter: n.DueAfter, RemindBefore: n.RemindBefore, AddedBy: principal,
	}
	b.emit(&SignerAdded{Node: n.Key, Where: c.Where, Signer: c.Signer, Index: index, New: added, By: c.By.ID, Comment: c.Comment, At: c.At})
	if c.Where == Before {
		b.activate(index, c.By.ID, c.At)
	}
	return nil
}

func (b *builder) comment(c Comment) error {
	if err := b.mustExist(); err != nil {
		return err
	}
	principal, err := b.actAs(c.By, c.At)
	if err != nil {
		return err
	}
	if !b.s.Participant(principal) && !c.By.Admin && (b.s.System == "" || c.By.System != b.s.System) {
		return domain.Errorf(domain.Forbidden, "not-participant", "%s takes no part in this ticket", principal)
	}
	if err := checkText("text", c.Text, true); err != nil {
		return err
	}
	b.emit(&Commented{By: c.By.ID, Text: c.Text, At: c.At})
	return nil
}

func (b *builder) cc(c CC) error {
	if err := b.mustBeOpen(); err != nil {
		return err
	}
	principal, err := b.actAs(c.By, c.At)
	if err != nil {
		return err
	}
	if principal != b.s.Submitter && !slices.Contains(b.s.PendingHandlers(), principal) && !c.By.Admin {
		return domain.Errorf(domain.Forbidden, "not-handler", "only the submitter or a current handler may copy others in")
	}
	if len(c.Users) == 0 {
		return domain.FieldError("required", "users", "name at least one user")
	}
	var added []string
	for i, u := range uniqueSorted(c.Users) {
		if u == "" {
			return domain.FieldError("required", fmt.Sprintf("users[%d]", i), "empty user")
		}
		if !slices.Contains(b.s.CC, u) {
			added = append(added, u)
		}
	}
	if len(added) == 0 {
		return nil
	}
	b.emit(&CCAdded{By: c.By.ID, Users: added, At: c.At})
	return nil
}

func (b *builder) urge(c Urge) error {
	if err := b.mustBeOpen(); err != nil {
		return err
	}
	principal, err := b.actAs(c.By, c.At)
	if err != nil {
		return err
	}
	if principal != b.s.Submitter && !slices.Contains(b.s.Watchers, principal) && (b.s.System == "" || c.By.System != b.s.System) {
		return domain.Errorf(domain.Forbidden, "not-watcher", "only the submitter or a watcher may urge")
	}
	n, ok := b.s.CurrentNode()
	if !ok {
		return domain.Errorf(domain.Conflict, "no-active-node", "no node is waiting for a handler")
	}
	if err := checkText("comment", c.Comment, false); err != nil {
		return err
	}
	if last, ok := b.s.LastUrged[n.Key]; ok && c.At.Sub(last) < c.Interval {
		err := domain.Errorf(domain.TooSoon, "urged-recently", "node %s was urged at %s; it can be urged again after %s",
			n.Key, last.UTC().Format(time.RFC3339), last.Add(c.Interval).UTC().Format(time.RFC3339))
		err.RetryAt = last.Add(c.Interval)
		return err
	}
	b.emit(&Urged{Node: n.Key, By: c.By.ID, Urged: b.s.PendingHandlers(), Comment: c.Comment, At: c.At})
	return nil
}

func (b *builder) remind(c Remind) error {
	if !c.By.Scheduler {
		return domain.Errorf(domain.Forbidden, "not-scheduler", "only the scheduler sends SLA reminders")
	}
	if err := b.mustExist(); err != nil {
		return err
	}
	if c.Kind != DueSoon && c.Kind != Overdue {
		return domain.FieldError("invalid", "kind", "must be %q or %q", DueSoon, Overdue)
	}
	// The active node's reminders, or with Whole the whole ticket's, as activation 0, to the
	// handlers of the active node if any (while returned to its submitter too).
	n, ok := b.s.CurrentNode()
	activation, dueAt, remindAt := b.s.Activation, b.s.DueAt, b.s.DueAt.Add(-n.RemindBefore)
	what := fmt.Sprintf("the %s reminder of node %s", c.Kind, n.Key)
	if c.Whole {
		activation, dueAt, remindAt = 0, b.s.TicketDueAt, b.s.TicketRemindAt
		what = fmt.Sprintf("the ticket's %s reminder", c.Kind)
	} else if !ok {
		return nil
	}
	if b.s.Status.Final() || dueAt.IsZero() || b.s.Reminded[reminderKey(activation, c.Kind)] {
		return nil
	}
	when := dueAt
	if c.Kind == DueSoon {
		if remindAt.IsZero() || !c.At.Before(dueAt) {
			return nil // reached only once it is due: the overdue reminder says more
		}
		when = remindAt
	}
	if c.At.Before(when) {
		return domain.Errorf(domain.Conflict, "not-due", "%s is due at %s", what, when.UTC().Format(time.RFC3339))
	}
	b.emit(&Reminded{Node: n.Key, Activation: activation, Kind: c.Kind, Handlers: b.s.PendingHandlers(), DueAt: dueAt, At: c.At})
	return nil
}

func (b *builder) report(c ReportExecution) error {
	if err := b.mustExist(); err != nil {
		return err
	}
	if c.By.System == "" || c.By.System != b.s.System {
		return domain.Errorf(domain.Forbidden, "not-owner", "only the business system that submitted the ticket reports its execution")
	}
	if !b.s.Status.Final() {
		return domain.Errorf(domain.Conflict, "no-outcome", "the ticket has no final outcome to execute yet")
	}
	if c.Status != ExecutionSucceeded && c.Status != ExecutionFailed {
		return domain.FieldError("invalid", "status", "must be %q or %q", ExecutionSucceeded, ExecutionFailed)
	}
	if err := checkText("detail", c.Detail, false); err != nil {
		return err
	}
	if b.s.Succeeded() {
		last := b.s.Executions[len(b.s.Executions)-1]
		if last.Status == c.Status && last.Detail == c.Detail {
			return nil
		}
		return domain.Errorf(domain.Conflict, "already-executed", "the business system already reported a successful execution")
	}
	b.emit(&ExecutionReported{Execution: Execution{Status: c.Status, Detail: c.Detail, ReportedBy: c.By.ID, At: c.At}})
	return nil
}

func equalFields(a, b Fields) bool {
	return maps.EqualFunc(a, b, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

func uniqueSorted(list []string) []string {
	out := slices.Clone(list)
	sort.Strings(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

func uniqueInOrder(list []string) []string {
	var out []string
	for _, v := range list {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// clonePicks copies a submitter's picks, nil when there are none.
func clonePicks(p map[string][]string) map[string][]string {
	if len(p) == 0 {
		return nil
	}
	out := make(map[string][]string, len(p))
	for k, v := range p {
		out[k] = slices.Clone(v)
	}
	return out
}
