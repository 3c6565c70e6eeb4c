package live

import (
	"cmp"
	"slices"
	"strings"
)

// boards are the speeds placement assumes for the Raspberry Pi boards an agent names in its
// facts (facts.model, the device tree's model string, e.g. "Raspberry Pi 4 Model B Rev 1.4"),
// in the simulator's units (broker/sim/profiles.go): one core's throughput, a Pi 4 core
// (Cortex-A72 at 1.5 GHz) 1. The anchors are the simulator's — Zero 2 W 0.4, Pi 4 1, Pi 5 2 —
// and the other boards are scaled from the anchor of their core by clock: estimates, the
// prior a node starts from until its own results teach its rate.
//
// A node's speed comes from its results, its board and its tether.speed label, in that order
// of trust: the board is measured hardware the node reports, the label what whoever set the
// node up declared.
var boards = sortedBoards([]board{
	{"Raspberry Pi 5 ", 2.0},                     // Cortex-A76, 2.4 GHz
	{"Raspberry Pi 500 ", 2.0},                   // the Pi 5 in a keyboard
	{"Raspberry Pi Compute Module 5", 2.0},       // the Pi 5's SoC
	{"Raspberry Pi 4 ", 1.0},                     // Cortex-A72, 1.5 GHz (1.8 on late boards: still 1, conservative)
	{"Raspberry Pi 400 ", 1.2},                   // Cortex-A72, 1.8 GHz
	{"Raspberry Pi Compute Module 4", 1.0},       // the Pi 4's SoC
	{"Raspberry Pi 3 Model B Plus ", 0.56},       // Cortex-A53, 1.4 GHz
	{"Raspberry Pi 3 Model A Plus ", 0.56},       // Cortex-A53, 1.4 GHz
	{"Raspberry Pi Compute Module 3 Plus", 0.48}, // Cortex-A53, 1.2 GHz
	{"Raspberry Pi 3 ", 0.48},                    // Cortex-A53, 1.2 GHz
	{"Raspberry Pi Compute Module 3", 0.48},      // Cortex-A53, 1.2 GHz
	{"Raspberry Pi Zero 2 ", 0.4},                // Cortex-A53, 1 GHz: the anchor
	{"Raspberry Pi 2 ", 0.2},                     // Cortex-A7 (or A53 at 900 MHz on v1.2)
	{"Raspberry Pi Zero ", 0.1},                  // ARM1176, 1 GHz, one core
	{"Raspberry Pi Model ", 0.07},                // the first Pi: ARM1176, 700 MHz
	{"Raspberry Pi Compute Module Rev", 0.07},    // the first compute module
})

type board struct {
	prefix string
	speed  float64
}

// sortedBoards orders bs longest prefix first, so a model matches its most specific entry.
func sortedBoards(bs []board) []board {
	slices.SortStableFunc(bs, func(a, b board) int { return cmp.Compare(len(b.prefix), len(a.prefix)) })
	return bs
}

// boardSpeed returns the speed of the board model names, if it is one this table knows.
func boardSpeed(model string) (float64, bool) {
	model = strings.TrimSpace(model) + " " // a model ends the prefix as a word would
	for _, b := range boards {
		if strings.HasPrefix(model, b.prefix) {
			return b.speed, true
		}
	}
	return 0, false
}
