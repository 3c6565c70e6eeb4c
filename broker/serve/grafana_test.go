package serve

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGrafanaDashboardCoversTheMetrics: deploy/grafana/tether.json is a
// dashboard whose queries use every tether_* metric that docs/metrics.md
// lists, so a metric added there without a panel fails here.
func TestGrafanaDashboardCoversTheMetrics(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "tether.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("tether.json: %v", err)
	}
	var exprs strings.Builder
	titles := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Title == "" || titles[p.Title] || len(p.Targets) == 0 {
			t.Errorf("panel %q: want a unique title and at least one query", p.Title)
		}
		titles[p.Title] = true
		for _, q := range p.Targets {
			exprs.WriteString(q.Expr + "\n")
		}
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| (`tether_[^|]*)\\|")
	name := regexp.MustCompile("`(tether_[a-z_]+)`")
	n := 0
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		for _, nm := range name.FindAllStringSubmatch(m[1], -1) {
			n++
			if !strings.Contains(exprs.String(), nm[1]) {
				t.Errorf("%s (docs/metrics.md) is in no panel of deploy/grafana/tether.json", nm[1])
			}
		}
	}
	if n < 20 {
		t.Fatalf("found %d metrics in docs/metrics.md's tables: the table format changed", n)
	}
}
