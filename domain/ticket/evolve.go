package ticket

import (
	"maps"
	"slices"
	"strconv"
	"time"
)

// Evolve returns the state after e. It never modifies s's slices or maps in place, so
// earlier states stay valid.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case *Submitted:
		s = Initial()
		s.ID, s.Status = e.TicketID, StatusInProgress
		s.ProcessKey, s.ProcessVersion = e.ProcessKey, e.ProcessVersion
		s.System, s.BusinessKey, s.Submitter, s.Title = e.System, e.BusinessKey, e.Submitter, e.Title
		s.Fields, s.Route, s.SubmittedAt = e.Fields, e.Route, e.At
		s.Watchers, s.CC, s.Picked = e.Watchers, e.CC, e.Picked
		s.TicketDueAt, s.TicketRemindAt = e.DueAt, e.RemindAt
	case *NodeActivated:
		s.Status = StatusInProgress
		s.Current, s.Activation = e.Index, e.Activation
		s.ActivatedAt, s.DueAt = e.At, e.DueAt
		s.Tasks = slices.Clone(e.Tasks)
		for _, t := range e.Tasks {
			s.Handled = addUnique(s.Handled, t.Assignee)
		}
	case *TaskApproval:
		s.Tasks = decided(s.Tasks, e.Decision, TaskApproved)
		if n, ok := s.CurrentNode(); ok && n.Mode == Sequential {
			for i, t := range s.Tasks {
				if t.Status == TaskWaiting {
					s.Tasks[i].Status = TaskPending
					break
				}
			}
		}
		if len(e.Changes) > 0 {
			s.Fields = s.Fields.merge(e.Changes)
		}
	case *TaskRejection:
		s.Tasks = decided(s.Tasks, e.Decision, TaskRejected)
	case *NodeCompleted:
		s.Tasks = cancelOpen(s.Tasks)
		s.Current = -1
	case *Returned:
		s.Tasks = decided(s.Tasks, e.Decision, TaskReturned)
		s.Tasks = cancelOpen(s.Tasks)
		s.Current = -1
		if e.To == ToSubmitter {
			s.Status = StatusReturned
		}
	case *Resubmitted:
		s.Fields, s.Route = e.Fields, e.Route
		if e.Picked != nil {
			s.Picked = e.Picked
		}
		s.Status, s.Current, s.Tasks = StatusInProgress, -1, nil
	case *Withdrawn:
		s.Status, s.FinalAt = StatusWithdrawn, e.At
		s.Tasks, s.Current = cancelOpen(s.Tasks), -1
	case *TaskTransfer:
		tasks := slices.Clone(s.Tasks)
		for i := range tasks {
			if tasks[i].ID == e.TaskID {
				tasks[i].Status, tasks[i].DecidedBy, tasks[i].DecidedAt = TaskTransferred, e.By, e.At
				if e.By != e.Assignee {
					tasks[i].OnBehalfOf = e.Assignee
				}
			}
		}
		s.Tasks = append(tasks, Task{ID: e.NewTask, Assignee: e.To, Status: TaskPending})
		s.Handled = addUnique(s.Handled, e.To)
	case *HandlerReplaced:
		route := slices.Clone(s.Route)
		for i := range route {
			if slices.Contains(e.Nodes, route[i].Key) {
				route[i].Handlers = ReplaceHandler(route[i].Handlers, e.From, e.To)
			}
		}
		s.Route = route
		tasks := slices.Clone(s.Tasks)
		for i := range tasks {
			if slices.Contains(e.Tasks, tasks[i].ID) {
				tasks[i].Assignee = e.To
				s.Handled = addUnique(s.Handled, e.To)
			}
		}
		s.Tasks = tasks
	case *SignerAdded:
		route := slices.Clone(s.Route)
		s.Route = slices.Insert(route, e.Index, e.New)
		if e.Index <= s.Current {
			s.Current++
		}
		if e.Where == Before {
			s.Tasks, s.Current = cancelOpen(s.Tasks), -1
		}
	case *Commented:
	case *CCAdded:
		for _, u := range e.Users {
			s.CC = addUnique(s.CC, u)
		}
	case *Urged:
		s.LastUrged = maps.Clone(s.LastUrged)
		if s.LastUrged == nil {
			s.LastUrged = make(map[string]time.Time)
		}
		s.LastUrged[e.Node] = e.At
		s.Urges++
	case *Reminded:
		s.Reminded = maps.Clone(s.Reminded)
		if s.Reminded == nil {
			s.Reminded = make(map[string]bool)
		}
		s.Reminded[reminderKey(e.Activation, e.Kind)] = true
	case *Approved:
		s.Status, s.FinalAt, s.Current = StatusApproved, e.At, -1
		s.Tasks = cancelOpen(s.Tasks)
	case *Rejected:
		s.Status, s.FinalAt, s.Current = StatusRejected, e.At, -1
		s.Tasks = cancelOpen(s.Tasks)
	case *ExecutionReported:
		s.Executions = append(slices.Clip(s.Executions), e.Execution)
	}
	return s
}

// decided marks the decision's task with status.
func decided(tasks []Task, d Decision, status TaskStatus) []Task {
	out := slices.Clone(tasks)
	for i := range out {
		if out[i].ID == d.TaskID {
			out[i].Status, out[i].DecidedBy, out[i].DecidedAt = status, d.By, d.At
			if d.By != d.Assignee {
				out[i].OnBehalfOf = d.Assignee
			}
		}
	}
	return out
}

// cancelOpen cancels the pending and waiting tasks.
func cancelOpen(tasks []Task) []Task {
	out := slices.Clone(tasks)
	for i := range out {
		if out[i].Status == TaskPending || out[i].Status == TaskWaiting {
			out[i].Status = TaskCancelled
		}
	}
	return out
}

func addUnique(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(slices.Clip(list), v)
}

func reminderKey(activation int, kind string) string {
	return strconv.Itoa(activation) + "/" + kind
}

// ReplaceHandler returns handlers with to in from's place, once: where to is already a
// handler, from is dropped.
func ReplaceHandler(handlers []string, from, to string) []string {
	replaced := slices.Clone(handlers)
	for i, h := range replaced {
		if h == from {
			replaced[i] = to
		}
	}
	return uniqueInOrder(replaced)
}
