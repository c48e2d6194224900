package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v4"
)

// definitionFile is a definition read from a file: its bytes and its media type.
type definitionFile struct {
	name        string
	source      []byte
	contentType string
}

// readDefinition reads a definition file: JSON when its name ends in .json, YAML otherwise.
func readDefinition(name string) (definitionFile, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return definitionFile{}, fmt.Errorf("read the definition: %w", err)
	}
	ct := "application/yaml"
	if strings.EqualFold(filepath.Ext(name), ".json") {
		ct = "application/json"
	}
	return definitionFile{name: name, source: b, contentType: ct}, nil
}

// problem is a definition problem as ticketd reports it.
type problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

type validation struct {
	Valid    bool      `json:"valid"`
	Key      string    `json:"key"`
	Problems []problem `json:"problems"`
}

// printProblems writes one "where: path: message" line per problem.
func printProblems(w io.Writer, where string, ps []problem) {
	for _, p := range ps {
		if p.Path == "" {
			fmt.Fprintf(w, "%s: %s\n", where, p.Message)
		} else {
			fmt.Fprintf(w, "%s: %s: %s\n", where, p.Path, p.Message)
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// validate asks ticketd to check def; an invalid definition's problems go to stderr and
// make the error.
func validate(ctx context.Context, o *options, c *client, def definitionFile) (validation, []byte, error) {
	var v validation
	_, raw, err := c.do(ctx, request{method: "POST", path: "/v1/definitions/validate", body: def.source, contentType: def.contentType}, &v)
	if err != nil {
		return v, raw, err
	}
	if !v.Valid {
		printProblems(o.stderr, def.name, v.Problems)
		return v, raw, fmt.Errorf("%s: the definition is invalid (%s)", def.name, plural(len(v.Problems), "problem", "problems"))
	}
	return v, raw, nil
}

func processValidate(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("process validate")
	pos, c, err := o.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	def, err := readDefinition(pos[0])
	if err != nil {
		return err
	}
	v, raw, err := validate(ctx, o, c, def)
	if o.json && raw != nil {
		if perr := printJSON(o.stdout, raw); perr != nil {
			return perr
		}
	}
	if err != nil {
		return err
	}
	if !o.json {
		fmt.Fprintf(o.stdout, "%s: a valid definition of process %q\n", def.name, v.Key)
	}
	return nil
}

// processView is a process as ticketd answers a publication.
type processView struct {
	Key      string `json:"key"`
	Version  int    `json:"version"`
	Versions []struct {
		Version     int       `json:"version"`
		Digest      string    `json:"digest"`
		PublishedAt time.Time `json:"published_at"`
	} `json:"versions"`
	Appended int    `json:"appended"`
	Position string `json:"position"`
}

func processApply(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("process apply")
	pos, c, err := o.connect(fs, args, 1, 1)
	if err != nil {
		return err
	}
	def, err := readDefinition(pos[0])
	if err != nil {
		return err
	}
	v, _, err := validate(ctx, o, c, def)
	if err != nil {
		return err
	}
	var p processView
	status, raw, err := c.do(ctx, request{method: "PUT", path: "/v1/processes/" + url.PathEscape(v.Key), body: def.source, contentType: def.contentType}, &p)
	if err != nil {
		return fmt.Errorf("publish %s: %w", def.name, err)
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	digest := ""
	if n := len(p.Versions); n > 0 {
		digest = p.Versions[n-1].Digest
		if len(digest) > 12 {
			digest = digest[:12]
		}
	}
	if status == 201 {
		fmt.Fprintf(o.stdout, "published process %q version %d (digest %s, position %s)\n", p.Key, p.Version, digest, p.Position)
	} else {
		fmt.Fprintf(o.stdout, "process %q unchanged: version %d is identical (digest %s)\n", p.Key, p.Version, digest)
	}
	return nil
}

type simulatedNode struct {
	Key          string         `json:"key"`
	Name         string         `json:"name"`
	Applies      bool           `json:"applies"`
	Skipped      string         `json:"skipped"`
	Mode         string         `json:"mode"`
	Handlers     []string       `json:"handlers"`
	CC           []string       `json:"cc"`
	Visible      []string       `json:"visible"`
	Editable     []string       `json:"editable"`
	Shown        map[string]any `json:"shown"`
	DueAfter     string         `json:"due_after"`
	RemindBefore string         `json:"remind_before"`
	RejectTo     string         `json:"reject_to"`
}

type simulation struct {
	Valid    bool            `json:"valid"`
	Problems []problem       `json:"problems"`
	Process  string          `json:"process"`
	Version  int             `json:"version"`
	Nodes    []simulatedNode `json:"nodes"`
}

func processSimulate(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("process simulate")
	fields := fs.String("fields", "", "the sample business fields: a JSON object, or @FILE to read it from a file (required)")
	submitter := fs.String("submitter", "", "the submitter's principal id; the directory supplies their department, roles and groups")
	department := fs.String("department", "", "the submitter's department, overriding the directory's")
	var roles, groups stringList
	fs.Var(&roles, "role", "a role of the submitter, overriding the directory's (repeatable, or comma-separated)")
	fs.Var(&groups, "group", "a group of the submitter, overriding the directory's (repeatable, or comma-separated)")
	picked := fs.String("picked", "", `approvers the submitter picked, per node key: a JSON object such as {"finance":["fang"]}`)
	procKey := fs.String("process", "", "simulate this published process instead of a FILE")
	version := fs.Int("version", 0, "with --process, this published version (default the newest)")
	pos, err := o.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if (len(pos) == 1) == (*procKey != "") {
		return usagef("process simulate: give a definition FILE or --process KEY, not both nor neither")
	}
	if *fields == "" {
		return usagef("process simulate: --fields is required: the sample fields as a JSON object, or @FILE")
	}
	body := map[string]any{}
	where := *procKey
	if len(pos) == 1 {
		def, err := readDefinition(pos[0])
		if err != nil {
			return err
		}
		doc, err := yamlToJSON(def.source)
		if err != nil {
			return fmt.Errorf("%s: %w", def.name, err)
		}
		body["definition"], where = doc, def.name
	} else {
		body["process"] = *procKey
		if *version > 0 {
			body["version"] = *version
		}
	}
	fv, err := jsonArg("--fields", *fields)
	if err != nil {
		return err
	}
	body["fields"] = fv
	sub := map[string]any{}
	if *submitter != "" {
		sub["id"] = *submitter
	}
	if *department != "" {
		sub["department"] = *department
	}
	if roles != nil {
		sub["roles"] = []string(roles)
	}
	if groups != nil {
		sub["groups"] = []string(groups)
	}
	if len(sub) > 0 {
		body["submitter"] = sub
	}
	if *picked != "" {
		pv, err := jsonArg("--picked", *picked)
		if err != nil {
			return err
		}
		body["picked"] = pv
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	var sim simulation
	_, raw, err := c.do(ctx, request{method: "POST", path: "/v1/definitions/simulate", body: body}, &sim)
	if err != nil {
		return fmt.Errorf("simulate %s: %w", where, err)
	}
	if o.json {
		if err := printJSON(o.stdout, raw); err != nil {
			return err
		}
	} else {
		printSimulation(o.stdout, sim, *submitter)
	}
	if !sim.Valid {
		printProblems(o.stderr, where, sim.Problems)
		return fmt.Errorf("%s: a submission with these fields would be refused (%s)", where, plural(len(sim.Problems), "problem", "problems"))
	}
	return nil
}

func printSimulation(w io.Writer, sim simulation, submitter string) {
	name := fmt.Sprintf("process %q", sim.Process)
	if sim.Version > 0 {
		name += fmt.Sprintf(" version %d", sim.Version)
	}
	verdict := "valid"
	if !sim.Valid {
		verdict = "invalid"
	}
	fmt.Fprintf(w, "%s simulated for submitter %s: %s\n", name, orDash(submitter), verdict)
	for i, n := range sim.Nodes {
		title := n.Key
		if n.Name != "" {
			title += " (" + n.Name + ")"
		}
		if !n.Applies {
			fmt.Fprintf(w, "\n%d. %s: skipped (%s)\n", i+1, title, orDash(n.Skipped))
			continue
		}
		fmt.Fprintf(w, "\n%d. %s: applies, %s\n", i+1, title, n.Mode)
		tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
		fmt.Fprintf(tw, "   handlers:\t%s\n", list(n.Handlers))
		fmt.Fprintf(tw, "   cc:\t%s\n", list(n.CC))
		fmt.Fprintf(tw, "   sees:\t%s\n", shown(n.Shown))
		fmt.Fprintf(tw, "   may edit:\t%s\n", list(n.Editable))
		var sla []string
		if n.DueAfter != "" {
			sla = append(sla, "due after "+n.DueAfter)
		}
		if n.RemindBefore != "" {
			sla = append(sla, "reminder "+n.RemindBefore+" before")
		}
		if n.RejectTo != "" {
			sla = append(sla, "a rejection goes to "+n.RejectTo)
		}
		if len(sla) > 0 {
			fmt.Fprintf(tw, "   then:\t%s\n", strings.Join(sla, "; "))
		}
		tw.Flush()
	}
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

// shown renders the field values a node's handlers would see: name=value, in name order.
func shown(m map[string]any) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v, _ := json.Marshal(m[k])
		s := string(v)
		if len(s) > 60 {
			s = s[:57] + "..."
		}
		parts[i] = k + "=" + s
	}
	return strings.Join(parts, ", ")
}

// jsonArg reads a flag's JSON value, given inline or as @FILE.
func jsonArg(flagName, v string) (json.RawMessage, error) {
	src := []byte(v)
	if name, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flagName, err)
		}
		src = b
	}
	if !json.Valid(src) {
		var x any
		err := json.Unmarshal(src, &x)
		return nil, usagef("%s: not valid JSON: %v", flagName, err)
	}
	return json.RawMessage(src), nil
}

// yamlToJSON converts a YAML (or JSON) document to JSON.
func yamlToJSON(src []byte) (json.RawMessage, error) {
	var doc any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("not a YAML document: %w", err)
	}
	doc, err := jsonable(doc, "")
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("convert the definition to JSON: %w", err)
	}
	return b, nil
}

// jsonable turns YAML maps with non-string keys into JSON objects where the keys are
// scalars, and refuses other keys.
func jsonable(v any, path string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			c, err := jsonable(e, path+"."+k)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			switch k.(type) {
			case string, int, int64, uint64, float64, bool:
			default:
				return nil, fmt.Errorf("%s: a key of type %T cannot become JSON", strings.TrimPrefix(path, "."), k)
			}
			ks := fmt.Sprint(k)
			c, err := jsonable(e, path+"."+ks)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		for i, e := range x {
			c, err := jsonable(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
		return x, nil
	}
	return v, nil
}

func processList(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("process list")
	_, c, err := o.connect(fs, args, 0, 0)
	if err != nil {
		return err
	}
	var out struct {
		Processes []struct {
			Key         string    `json:"key"`
			Name        string    `json:"name"`
			System      string    `json:"system"`
			Version     int       `json:"version"`
			Retired     bool      `json:"retired"`
			PublishedAt time.Time `json:"published_at"`
		} `json:"processes"`
	}
	_, raw, err := c.do(ctx, request{method: "GET", path: "/v1/processes"}, &out)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(o.stdout, raw)
	}
	tw := tabwriter.NewWriter(o.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVERSION\tSYSTEM\tRETIRED\tPUBLISHED\tNAME")
	for _, p := range out.Processes {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%v\t%s\t%s\n", p.Key, p.Version, orDash(p.System), p.Retired, stamp(p.PublishedAt), p.Name)
	}
	return tw.Flush()
}
