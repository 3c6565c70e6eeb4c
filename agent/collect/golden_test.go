package collect

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// TestSampleGolden samples each fixture tree twice, ten seconds apart, with
// testdata/<tree>.next written over the tree in between, and compares the
// second Sample with testdata/<tree>.golden.json.
//
// The deltas are chosen by hand: on the Pi every core ran 1000 ticks, of
// which 1210 of 4000 busy (30.25%), eth0 received 1258291 and sent 204800
// bytes, and the firmware reports 0x50005; on the x86 box one core is pegged
// (97.2%), docker0's counters were reset and a veth appeared.
func TestSampleGolden(t *testing.T) {
	for _, tree := range []string{"pi4", "x86"} {
		t.Run(tree, func(t *testing.T) {
			root := copyTree(t, tree)
			clk := newFakeClock()
			c := newFixtureCollector(t, root, tree, clk)

			overlay(t, filepath.Join("testdata", tree+".next"), root)
			clk.Advance(10 * time.Second)
			got := sample(t, c)

			golden := filepath.Join("testdata", tree+".golden.json")
			if *update {
				data, err := json.MarshalIndent(got, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, append(data, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			var want Sample
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&want); err != nil {
				t.Fatalf("decode %s: %v", golden, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Sample differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}
