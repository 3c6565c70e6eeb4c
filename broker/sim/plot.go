package sim

func writePlots(outDir string, cfg *Config, aggs []agg) error { return nil }
