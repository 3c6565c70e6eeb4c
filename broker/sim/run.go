package sim

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Run simulates every cell of cfg's grid and writes to outDir:
//
//	runs.csv     one row per run (mix, load, staleness, policy, seed)
//	summary.md   per configuration: mean ± 95 % CI over seeds, and the acceptance check
//	tasks/*.csv  one row per task, per run (with TaskCSV)
//	*.png        plots comparing the policies (with Plots)
//
// It prints the summary to stdout. Runs execute on Parallel goroutines owned by Run; results
// do not depend on Parallel.
func Run(ctx context.Context, cfg Config, outDir string, stdout io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("sim config: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("sim output: %w", err)
	}
	cells := cfg.grid()
	results, err := runCells(ctx, &cfg, cells, outDir)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(outDir, "runs.csv"), func(w io.Writer) error {
		return writeRunsCSV(w, results)
	}); err != nil {
		return err
	}
	aggs := aggregate(results)
	if err := writeFile(filepath.Join(outDir, "summary.md"), func(w io.Writer) error {
		return writeSummary(w, &cfg, aggs)
	}); err != nil {
		return err
	}
	if cfg.Plots {
		if err := writePlots(outDir, &cfg, aggs); err != nil {
			return err
		}
	}
	return writeSummary(stdout, &cfg, aggs)
}

// grid lists the cells in a fixed order: mix, load, staleness, policy, seed.
func (c *Config) grid() []cell {
	var cells []cell
	for _, m := range c.Mixes {
		for _, l := range c.Loads {
			for _, s := range c.Staleness {
				for _, p := range c.Policies {
					for k := 0; k < c.Seeds; k++ {
						cells = append(cells, cell{Mix: m, Load: l, Stale: s, Policy: p, Seed: c.Seed + uint64(k)})
					}
				}
			}
		}
	}
	return cells
}

// runCells runs the cells on cfg.Parallel workers and returns results in cell order.
func runCells(ctx context.Context, cfg *Config, cells []cell, outDir string) ([]Result, error) {
	results := make([]Result, len(cells))
	errs := make([]error, len(cells))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, cfg.Parallel) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				results[k], errs[k] = runCell(ctx, cfg, cells[k], outDir)
			}
		}()
	}
	for k := range cells {
		if ctx.Err() != nil {
			break
		}
		next <- k
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}

// runCell simulates one cell.
func runCell(ctx context.Context, cfg *Config, c cell, outDir string) (Result, error) {
	w, err := newWorld(cfg, c)
	if err != nil {
		return Result{}, fmt.Errorf("sim %s: %w", c, err)
	}
	if err := w.simulate(ctx); err != nil {
		return Result{}, err
	}
	if cfg.TaskCSV {
		name := filepath.Join(outDir, "tasks", c.String()+".csv")
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return Result{}, fmt.Errorf("sim output: %w", err)
		}
		if err := writeFile(name, w.writeTasksCSV); err != nil {
			return Result{}, err
		}
	}
	return w.measure(), nil
}

func (c cell) String() string {
	return fmt.Sprintf("%s-load%g-stale%g-%s-seed%d", c.Mix, c.Load, c.Stale, c.Policy, c.Seed)
}

// writeFile creates name and fills it with fill.
func writeFile(name string, fill func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("sim output: %w", err)
	}
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("sim output %s: %w", filepath.Base(name), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sim output: %w", err)
	}
	return nil
}
