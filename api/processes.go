package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/process"
	"github.com/ticketledger/ticketledger/eventstore"
)

type versionView struct {
	Version     int       `json:"version"`
	Digest      string    `json:"digest"`
	PublishedAt time.Time `json:"published_at"`
}

type processView struct {
	Key        string               `json:"key"`
	Version    int                  `json:"version"`
	Retired    bool                 `json:"retired"`
	Versions   []versionView        `json:"versions"`
	Definition json.RawMessage      `json:"definition,omitempty"`
	Source     string               `json:"source,omitempty"`
	Appended   *int                 `json:"appended,omitempty"`
	Position   *eventstore.Position `json:"position,omitempty"`
}

func processViewOf(st process.State) processView {
	v := processView{Key: st.Key, Version: st.Version, Retired: st.Retired, Versions: []versionView{}}
	for _, p := range st.Versions {
		v.Versions = append(v.Versions, versionView{Version: p.Version, Digest: p.Digest, PublishedAt: p.PublishedAt})
	}
	if p, ok := st.Latest(); ok {
		v.Definition, v.Source = p.Document, p.Source
	}
	return v
}

func (s *Server) listProcesses(w http.ResponseWriter, r *http.Request) error {
	if err := s.waitPrincipals(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"processes": nonNil(s.cfg.Principals.Processes())})
	return nil
}

func (s *Server) getProcess(w http.ResponseWriter, r *http.Request) error {
	key := chi.URLParam(r, "key")
	st, err := s.cfg.Definitions.Process(r.Context(), key)
	if err != nil {
		return err
	}
	if st.Version == 0 {
		return domain.Errorf(domain.NotFound, "no-such-process", "process %q is not published", key)
	}
	writeJSON(w, http.StatusOK, processViewOf(st))
	return nil
}

func (s *Server) getProcessVersion(w http.ResponseWriter, r *http.Request) error {
	key := chi.URLParam(r, "key")
	version, err := strconv.Atoi(chi.URLParam(r, "version"))
	if err != nil {
		return badParameter("path.version", "not a version number")
	}
	st, err := s.cfg.Definitions.Process(r.Context(), key)
	if err != nil {
		return err
	}
	p, ok := st.Published(version)
	if !ok {
		return domain.Errorf(domain.NotFound, "no-such-version", "process %q has no version %d", key, version)
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": p.Key, "version": p.Version, "digest": p.Digest,
		"published_at": p.PublishedAt, "definition": p.Document, "source": p.Source})
	return nil
}

// definitionSource returns the definition document of the body: YAML as written, or JSON
// (which process.Parse reads as YAML).
func definitionSource(r *http.Request) []byte { return bodyOf(r.Context()) }

func (s *Server) publishProcess(w http.ResponseWriter, r *http.Request) error {
	res, err := s.cfg.Commands.PublishProcess(r.Context(), commands.PublishProcess{Request: request(r, ""),
		Key: chi.URLParam(r, "key"), Source: definitionSource(r)})
	if err != nil {
		return err
	}
	if err := s.waitProcess(r, res); err != nil {
		return err
	}
	v := processViewOf(res.State)
	v.Appended, v.Position = &res.Appended, &res.Position
	status := http.StatusOK
	if res.Appended > 0 {
		status = http.StatusCreated
	}
	writeJSON(w, status, v)
	return nil
}

// waitProcess waits until the principal index has folded a process command's events:
// submissions through this server then see the version just published, or the
// retirement, at once (the definitions follow the index).
func (s *Server) waitProcess(r *http.Request, res commands.Result[process.State]) error {
	if res.Appended == 0 {
		return nil
	}
	return s.waitIndex(r, res.Position)
}

func (s *Server) retireProcess(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Reason string `json:"reason"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	res, err := s.cfg.Commands.RetireProcess(r.Context(), commands.RetireProcess{Request: request(r, ""), Key: chi.URLParam(r, "key"), Reason: b.Reason})
	if err != nil {
		return err
	}
	if err := s.waitProcess(r, res); err != nil {
		return err
	}
	v := processViewOf(res.State)
	v.Appended, v.Position = &res.Appended, &res.Position
	writeJSON(w, http.StatusOK, v)
	return nil
}

type validation struct {
	Valid    bool              `json:"valid"`
	Key      string            `json:"key,omitempty"`
	Problems []process.Problem `json:"problems"`
}

// validateDefinition parses the definition: a definition with problems is a successful
// validation whose answer lists them.
func (s *Server) validateDefinition(w http.ResponseWriter, r *http.Request) error {
	def, err := process.Parse(definitionSource(r))
	if ps := process.AsProblems(err); ps != nil {
		writeJSON(w, http.StatusOK, validation{Problems: ps})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, validation{Valid: true, Key: def.Key(), Problems: []process.Problem{}})
	return nil
}

type simulateBody struct {
	Definition json.RawMessage `json:"definition"`
	Process    string          `json:"process"`
	Version    int             `json:"version"`
	Fields     json.RawMessage `json:"fields"`
	Submitter  struct {
		ID         string            `json:"id"`
		Department *string           `json:"department"`
		Roles      []string          `json:"roles"`
		Groups     []string          `json:"groups"`
		Attributes map[string]string `json:"attributes"`
	} `json:"submitter"`
	Picked map[string][]string `json:"picked"`
}

type simulatedNode struct {
	Key          string         `json:"key"`
	Name         string         `json:"name,omitempty"`
	Applies      bool           `json:"applies"`
	Skipped      string         `json:"skipped,omitempty"`
	Mode         process.Mode   `json:"mode"`
	Handlers     []string       `json:"handlers"`
	CC           []string       `json:"cc"`
	Visible      []string       `json:"visible"`
	Editable     []string       `json:"editable"`
	Shown        process.Values `json:"shown"`
	DueAfter     string         `json:"due_after,omitempty"`
	RemindBefore string         `json:"remind_before,omitempty"`
	RejectTo     string         `json:"reject_to,omitempty"`
}

type simulation struct {
	Valid    bool              `json:"valid"`
	Problems []process.Problem `json:"problems"`
	Process  string            `json:"process"`
	Version  int               `json:"version,omitempty"`
	Nodes    []simulatedNode   `json:"nodes"`
}

// simulate routes sample fields and a submitter through a definition with the current
// directory. An invalid definition is a 422; fields or picks that a submission would be
// refused for are a simulation whose answer lists the problems.
func (s *Server) simulate(w http.ResponseWriter, r *http.Request) error {
	var b simulateBody
	if err := decode(r, &b); err != nil {
		return err
	}
	def, version, err := s.simulatedDefinition(r, b)
	if err != nil {
		return err
	}
	dir, err := s.cfg.Principals.Directory(r.Context())
	if err != nil {
		return err
	}
	out := simulation{Process: def.Key(), Version: version, Problems: []process.Problem{}, Nodes: []simulatedNode{}}
	input, err := process.DecodeJSON(b.Fields)
	var values process.Values
	if err == nil {
		values, err = def.ValidateFields(input)
	}
	if err == nil {
		sub := dir.Submitter(b.Submitter.ID)
		if b.Submitter.Department != nil {
			sub.Department = *b.Submitter.Department
		}
		if b.Submitter.Roles != nil {
			sub.Roles = b.Submitter.Roles
		}
		if b.Submitter.Groups != nil {
			sub.Groups = b.Submitter.Groups
		}
		if b.Submitter.Attributes != nil {
			sub.Attributes = make(map[string]any, len(b.Submitter.Attributes))
			for k, v := range b.Submitter.Attributes {
				sub.Attributes[k] = v
			}
		}
		var plan process.Plan
		plan, err = def.Route(process.RouteInput{Values: values, Submitter: sub, Chosen: b.Picked}, dir)
		for _, p := range plan {
			n, _, _ := def.Node(p.Key)
			sn := simulatedNode{Key: p.Key, Name: n.Name, Applies: p.Applies, Skipped: p.Skipped, Mode: p.Mode,
				Handlers: nonNil(p.Handlers), CC: nonNil(p.CC), Visible: nonNil(def.VisibleFields(p.Key)),
				Editable: nonNil(def.EditableFields(p.Key)), Shown: def.Project(p.Key, values), RejectTo: p.Reject}
			if p.Due > 0 {
				sn.DueAfter = p.Due.String()
			}
			if p.Remind > 0 {
				sn.RemindBefore = p.Remind.String()
			}
			out.Nodes = append(out.Nodes, sn)
		}
	}
	if ps := process.AsProblems(err); ps != nil {
		out.Problems = ps
	} else if err != nil {
		return err
	}
	out.Valid = len(out.Problems) == 0
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) simulatedDefinition(r *http.Request, b simulateBody) (*process.Definition, int, error) {
	if len(b.Definition) > 0 && string(b.Definition) != "null" {
		def, err := process.Parse(b.Definition)
		if ps := process.AsProblems(err); ps != nil {
			return nil, 0, &domain.Error{Kind: domain.Invalid, Code: "invalid-definition", Message: "the definition is invalid", Cause: ps}
		}
		return def, 0, err
	}
	if b.Process == "" {
		return nil, 0, domain.FieldError("required", "definition", "give a definition or the key of a published process")
	}
	st, err := s.cfg.Definitions.Process(r.Context(), b.Process)
	if err != nil {
		return nil, 0, err
	}
	version := b.Version
	if version == 0 {
		version = st.Version
	}
	pub, ok := st.Published(version)
	if !ok {
		return nil, 0, domain.Errorf(domain.NotFound, "no-such-process", "process %q has no version %d", b.Process, version)
	}
	def, err := pub.Definition()
	return def, version, err
}
