package process

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

//go:embed examples/*.yaml
var examples embed.FS

// Examples returns the names of the example definitions shipped with the package, sorted:
// "data-conflict" and "refund".
func Examples() []string {
	entries, err := fs.ReadDir(examples, "examples")
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}

// Example returns the YAML source of the named example definition. It returns an error
// wrapping fs.ErrNotExist for an unknown name.
func Example(name string) ([]byte, error) {
	b, err := examples.ReadFile(path.Join("examples", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("example %q: %w", name, err)
	}
	return b, nil
}
